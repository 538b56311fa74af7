# Classes of __main__ pickle and unpickle; the __main__ guard runs.
import pickle


class Point:
    def __init__(self, x):
        self.x = x


if __name__ == "__main__":
    p = pickle.loads(pickle.dumps(Point(3)))
    print(type(p).__module__, type(p).__qualname__, p.x)
