import asyncio


def numbers(n):
    for i in range(n):
        yield i * i


async def worker(n):
    total = 0
    for chunk in range(20):
        total += sum(numbers(n))
        await asyncio.sleep(0)
    return total


async def main():
    return await asyncio.gather(*(worker(20_000) for _ in range(4)))


print("asyncio ok", sum(asyncio.run(main())))
