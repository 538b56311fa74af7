"""Three named regions of different sizes, then some work outside any region."""
import pyprof_carbon


def burn(n):
    x = 0
    for i in range(n):
        x += i
    return x


with pyprof_carbon.region("load"):
    burn(200_000)
with pyprof_carbon.region("train"):
    burn(1_200_000)


@pyprof_carbon.region("eval")
def evaluate():
    return burn(400_000)


evaluate()
burn(200_000)
