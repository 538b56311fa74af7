# A thread pool left open: python's exit sequence (threading._shutdown) stops it; no hang.
from concurrent.futures import ThreadPoolExecutor

ex = ThreadPoolExecutor(2)
print(ex.submit(pow, 2, 10).result())
