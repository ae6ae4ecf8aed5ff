#> tuple displays
print((), (1,), (1, 2), ((1,),), (1, (2, (3,))), tuple([1, 2]))
#> tuple without parens
t = 1, 2, 3
u = 4,
print(t, u, len(t))
#> list displays
print([], [1], [1, 2], [[]], [[1, 2], [3]], [(1,)], [1, 'a', 2.5, None, True])
#> trailing commas
print([1, 2,], (1, 2,), len([1,]))
#> nested repr
print([1, [2, [3, [4]]]], ((1, 2), [3, (4,)]), [(), [], ''])
#> list concatenation and repetition
print([1] + [2, 3], [1, 2] * 2, 2 * [0], [1] * 0, [1] * -1, [[]] * 3, (1,) + (2,), (1, 2) * 2)
#> list plus tuple
print([1] + (2,))
#> tuple plus list
print((1,) + [2])
#> list times list
print([1] * [2])
#> list times float
print([1] * 1.5)
#> list indexing
a = [10, 20, 30, 40]
print(a[0], a[-1], a[2], a[-4], a[False])
#> list index out of range
print([1, 2][2])
#> list negative index out of range
print([1, 2][-3])
#> list index with str
print([1, 2]['0'])
#> list index with float
print([1, 2][0.0])
#> list index huge
print([1][10 ** 30])
#> tuple index out of range
print((1, 2)[5])
#> tuple index with str
print((1,)['a'])
#> list slices
a = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
print(a[2:5], a[:3], a[7:], a[-3:], a[:-7], a[::3], a[::-1], a[8:1:-3], a[-1:-4:-1], a[20:], a[:20], a[5:2], a[::-20])
#> tuple slices
t = (0, 1, 2, 3, 4)
print(t[1:3], t[::-1], t[:0], t[-2:], t[1:2])
#> slice with None and bools
a = [0, 1, 2, 3]
print(a[None:2], a[1:None], a[::None], a[True:], a[:True], a[None:None:-1])
#> slice step zero
print([1, 2][::0])
#> slice bad bound
print([1, 2][:'a'])
#> slice huge bounds
print([1, 2, 3][-10 ** 30:10 ** 30], [1, 2, 3][::10 ** 30], [1, 2, 3][::-10 ** 30])
#> list item assignment
a = [1, 2, 3]
a[0] = 'x'
a[-1] = [4]
print(a)
#> list item assignment out of range
a = [1]
a[1] = 2
#> tuple item assignment
t = (1, 2)
t[0] = 5
#> slice assignment
a = [0, 1, 2, 3, 4]
a[1:3] = ['a', 'b', 'c']
print(a)
a[:0] = [9]
print(a)
a[::2] = [7, 7, 7, 7]
print(a)
a[4:1] = [5]
print(a)
a[:] = (1, 2)
print(a)
a[1:] = 'xyz'
print(a)
#> extended slice assignment wrong size
a = [0, 1, 2, 3]
a[::2] = [1]
#> slice assignment non-iterable
a = [1, 2]
a[0:1] = 5
#> slice assignment from itself
a = [1, 2, 3]
a[1:] = a
print(a)
#> list comparisons
print([1, 2] < [1, 3], [1, 2] < [1, 2, 0], [] < [0], [2] > [1, 9], [1, 2] == [1, 2], [1] == [1.0], [1, [2]] == [1, [2]], [1] != [1], [3, 'a'] < [4, 1])
#> tuple comparisons
print((1, 2) < (1, 3), (1,) < (1, 2), () == (), (1, 'a') == (1, 'a'), (2, 1) >= (2,), (1, 2) <= (1, 2))
#> list vs tuple
print([1] == (1,), [1] != (1,))
#> list order vs tuple
print([1] < (1,))
#> incomparable elements
print([1, 'a'] < [1, 2])
#> equal prefix incomparable not compared
print([1, 'a'] < [2, 3], [1] < [1, 'x'])
#> in for containers
print(1 in [1, 2], 3 in [1, 2], 1.0 in [1], 'a' in ('a', 'b'), [1] in [[1], [2]], (1,) in [(1,)], 2 not in [1], None in [None])
#> in for int
print(1 in 5)
#> in for None
print(1 in None)
#> len of containers
print(len([]), len([1, 2]), len(()), len((1, (2, 3))), len([[1, 2, 3]]))
#> len of int
print(len(5))
#> len of None
print(len(None))
#> subscript of int
print(5[0])
#> subscript of None
x = None
print(x[0])
#> list aliasing
a = [1, 2]
b = a
b.append(3)
print(a, b, a == b)
#> list copy independence
a = [1, 2]
b = a[:]
b.append(3)
c = list(a)
c[0] = 9
print(a, b, c)
#> list containing itself
a = [1]
a.append(a)
print(a, len(a), a == a)
#> tuple containing list containing it
a = []
t = (a,)
a.append(t)
print(t, a)
#> nested list mutation through alias
a = [[0]] * 3
a[0].append(1)
print(a)
#> list += iterable extends in place
a = [1]
b = a
a += (2, 3)
a += 'xy'
a += range(2)
print(a, b, a == b)
#> list += non-iterable
a = [1]
a += 5
#> list *= in place
a = [1, 2]
b = a
a *= 2
print(a, b)
#> tuple += makes new tuple
t = (1,)
u = t
t += (2,)
print(t, u)
#> tuple += list
t = (1,)
t += [2]
