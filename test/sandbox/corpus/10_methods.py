#> list append extend insert
a = [1]
a.append(2)
a.extend([3, 4])
a.extend('ab')
a.extend(range(2))
a.insert(0, 'first')
a.insert(-1, 'x')
a.insert(100, 'end')
a.insert(-100, 'start')
print(a)
#> list pop
a = [1, 2, 3, 4]
print(a.pop(), a.pop(0), a.pop(-1), a)
#> pop from empty
[].pop()
#> pop out of range
[1].pop(3)
#> pop bad index
[1].pop('a')
#> list remove
a = [1, 2, 1, 3]
a.remove(1)
print(a)
a.remove(1.0)
print(a)
#> remove missing
[1].remove(2)
#> list index and count
a = [1, 2, 3, 2, 1]
print(a.index(2), a.index(2, 2), a.index(1, -2), a.index(3, 0, 3), a.count(1), a.count(5), a.count(1.0), [[1]].count([1]))
#> index missing
[1, 2].index(3)
#> index missing in range
[1, 2, 3].index(1, 1)
#> index with str bound
[1].index(1, 'a')
#> tuple index and count
t = (1, 2, 1)
print(t.index(1), t.index(1, 1), t.count(1), t.count(3))
#> tuple index missing
(1, 2).index(5)
#> tuple has no append
(1,).append(2)
#> list reverse clear copy
a = [1, 2, 3]
b = a.copy()
a.reverse()
print(a, b)
b.clear()
print(b, a)
#> list sort
a = [3, 1, 2]
a.sort()
print(a)
a.sort(reverse=True)
print(a)
b = ['bb', 'a', 'ccc']
b.sort(key=len)
print(b)
#> list sort positional refused
[2, 1].sort(True)
#> list sort incomparable
a = [1, 'a']
a.sort()
#> methods return None
a = [1]
print(a.append(2), a.extend([]), a.reverse(), a.sort(), a.clear(), a.insert(0, 0), a)
#> method arity errors
[].append()
#> method arity too many
[].append(1, 2)
#> method keyword refused
[].append(x=1)
#> count arity
[].count()
#> insert arity
[].insert(1)
#> method repr and equality
a = [1]
m = a.append
m(5)
print(a)
#> bound method called later
a = []
f = a.append
f(1)
f(2)
print(a, len(a))
#> method of range missing
range(3).append(1)
#> method as key
a = [3, 1, 2]
print(sorted([0, 1, 2], key=a.pop))
print(a)
