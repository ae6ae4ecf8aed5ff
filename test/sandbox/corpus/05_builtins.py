#> print sep and end
print(1, 2, 3, sep='-')
print('a', 'b', sep='', end='!\n')
print('no newline', end='')
print()
print(sep=None, end=None)
print('x', sep=None)
#> print nothing
print()
print()
#> print bad sep
print(1, sep=1)
#> print bad end
print(1, end=[])
#> print bad keyword
print(1, color='red')
#> print file None and flush
print('ok', file=None, flush=True)
#> print file other
print('ok', file=1)
#> min and max of iterables
print(min([3, 1, 2]), max([3, 1, 2]), min((5, 4)), max('abc'), min(range(5, 10)), max([1.5, 2, -1]), max([[1], [2]]))
#> min and max of several arguments
print(min(3, 1, 2), max(3, 1, 2), min(1, 1.0), max(1, 1.0), max(1.0, 1), min('b', 'a'))
#> min max ties keep first
print(max([1, 1.0]), min([1.0, 1]), max(0, False), min(False, 0))
#> min max with key
print(max([-5, 3, 1], key=abs), min(['bb', 'a', 'ccc'], key=len), max([(1, 'b'), (1, 'a')], key=len), max('abc', 'xy', key=len))
#> min max default
print(min([], default='empty'), max([], default=None), max([1], default=0))
#> min empty
print(min([]))
#> max empty
print(max(()))
#> max no arguments
print(max())
#> min default with several args
print(min(1, 2, default=0))
#> max incomparable
print(max([1, 'a']))
#> max of int
print(max(5))
#> min key not callable
print(min([1, 2], key=5))
#> min bad keyword
print(min([1], reverse=True))
#> max with nan
n = float('nan')
print(max([n, 1, 2]), max([1, n, 2]), min([2, n, 1]), max(n, 5))
#> sum
print(sum([1, 2, 3]), sum([]), sum([0.1] * 10), sum([1, 2.5]), sum(range(101)), sum([1, 2], 10), sum([[1], [2]], []), sum([(1,), (2,)], ()), sum([True, True]), sum([], start=5))
#> sum of strings
print(sum(['a', 'b'], ''))
#> sum mixed
print(sum([1, 'a']))
#> sum of int
print(sum(5))
#> sum no args
print(sum())
#> sum float order
print(sum([1e16, 1.0, -1e16]), sum([0.1, 0.2, 0.3]), sum([1e100, 1, -1e100, 1]))
#> len of range and str
print(len(range(10)), len(range(0, 10, 3)), len(range(10, 0, -2)), len(range(5, 5)), len(range(-10 ** 20, 10 ** 20, 10 ** 19)))
#> len too many args
print(len([1], [2]))
#> range
print(range(5), range(1, 5), range(1, 10, 2), range(5, 0, -1), list(range(5)), list(range(2, 8, 3)), list(range(5, 0, -2)), list(range(0)), list(range(3, 1)))
#> range indexing and slicing
r = range(0, 20, 3)
print(r[0], r[-1], r[2], r[1:4], r[::-1], r[::2], list(r[1:4]), r[10:], len(r[::-1]))
#> range attributes
r = range(1, 10, 2)
print(r.start, r.stop, r.step, range(5).start)
#> range in
print(3 in range(5), 5 in range(5), -1 in range(5), 4 in range(0, 10, 2), 5 in range(0, 10, 2), 3.0 in range(5), 2.5 in range(5), 'a' in range(3), 7 in range(10, 0, -3))
#> range equality
print(range(0) == range(2, 2), range(0, 3) == range(3), range(0, 5, 2) == range(0, 6, 2), range(1) == range(1, 2, 5), range(3) == [0, 1, 2])
#> range index out of range
print(range(3)[3])
#> range step zero
print(range(1, 5, 0))
#> range float
print(range(2.0))
#> range no args
print(range())
#> range too many args
print(range(1, 2, 3, 4))
#> range of huge length
print(len(range(10 ** 30)))
#> huge range indexing works
print(range(10 ** 30)[10 ** 25], range(10 ** 30)[-1], 10 ** 29 in range(10 ** 30))
#> str repr list tuple
print(str([1, 'a']), repr((1,)), repr([]), str(()), list((1, 2)), tuple([3]), list(range(3)), tuple('ab'), list([]), tuple(()))
#> list of int
print(list(5))
#> tuple of None
print(tuple(None))
#> list keywords refused
print(list(x=[1]))
#> sorted
print(sorted([3, 1, 2]), sorted((3, 1, 2)), sorted('cba'), sorted([]), sorted([2, 1.5, True]), sorted([[2], [1, 5], [1]]))
#> sorted reverse and key
print(sorted([3, 1, 2], reverse=True), sorted(['bb', 'a', 'ccc'], key=len), sorted([-3, 1, -2], key=abs, reverse=True), sorted([(1, 'b'), (0, 'z'), (1, 'a')]))
#> sorted stability
print(sorted([(1, 'b'), (0, 'a'), (1, 'a'), (0, 'b')], key=len), sorted(['b', 'A', 'a', 'B'], key=str), sorted([1, 1.0, True], reverse=True))
#> sorted with nan small
n = float('nan')
print(sorted([3, n, 1, 2]), sorted([n, 2, 1]), sorted([2, 1, n, 0, -1]))
#> sorted long list no comprehension
a = list(range(100))
b = a[::3] + a[1::3] + a[2::3]
print(sorted(b) == a, sorted(b, reverse=True) == a[::-1], sorted(b)[:5])
#> sorted incomparable
print(sorted([1, 'a', 2]))
#> sorted of int
print(sorted(5))
#> sorted bad keyword
print(sorted([1], foo=1))
#> sorted reverse None
print(sorted([1], reverse=None))
#> bool of several
print(bool(1, 2))
#> repr no args
print(repr())
#> str of several
print(str(1, 2, 3))
#> calling non-callables
x = 5
x()
#> calling None
None()
#> calling str
'abc'(1)
#> builtins can be shadowed
print = 5
x = print
#> shadowed builtin then used
len = 3
print(len)
#> shadowed builtin call error
len = 3
len([1])
#> builtin repr
print(len, print, repr(max))
#> abs no args
abs()
