# multiprocessing spawn and forkserver children re-import __main__ by its path.
import multiprocessing as mp


def square(x):
    return x * x


if __name__ == "__main__":
    for method in ("spawn", "forkserver", "fork"):
        with mp.get_context(method).Pool(2) as pool:
            print(method, pool.map(square, range(4)))
