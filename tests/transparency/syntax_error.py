# A script that does not compile: python's SyntaxError, status 1.
def f(:
    pass
