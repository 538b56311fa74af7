def work():
    return sum(i * i for i in range(200_000))


def fail():
    work()
    raise ValueError("the script failed on purpose")


fail()
