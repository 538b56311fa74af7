# __builtins__ in __main__ is the builtins module, as python sets it.
print(type(__builtins__).__name__, __builtins__.len([1]))
