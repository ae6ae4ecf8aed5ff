#> simple assignment
x = 5
y = x * 2
print(x, y)
#> chained assignment
a = b = c = [1]
a.append(2)
print(a, b, c)
#> tuple unpacking
a, b = 1, 2
print(a, b)
a, b = b, a
print(a, b)
#> unpacking from list and string and range
a, b, c = [1, 2, 3]
d, e = 'xy'
f, g = range(2)
print(a, b, c, d, e, f, g)
#> nested unpacking
a, (b, c) = 1, (2, 3)
[d, [e, f]] = [4, [5, 6]]
(g, h), i = 'ab', 'c'
print(a, b, c, d, e, f, g, h, i)
#> single element unpacking
a, = [7]
(b,) = (8,)
[c] = 'z'
print(a, b, c)
#> empty unpacking
() = []
[] = ''
print('ok')
#> chained assignment with unpacking
a, b = c, d = 1, 2
t = u, v = 3, 4
print(a, b, c, d, t, u, v)
#> too many values
a, b = 1, 2, 3
#> not enough values
a, b, c = 1, 2
#> unpack non-iterable
a, b = 5
#> unpack None
a, b = None
#> partial assignment before error
a = 1
a, b = [1, 2, 3]
#--
print(a)
#> assignment targets evaluated left to right
a = [0, 0, 0]
i = 0
i, a[i] = 1, 5
print(i, a)
#> swap through subscripts
a = [1, 2, 3]
a[0], a[2] = a[2], a[0]
print(a)
#> augmented assignment numbers
x = 10
x += 5
print(x)
x -= 3
print(x)
x *= 2
print(x)
x /= 4
print(x)
x //= 2
print(x)
x %= 2
print(x)
x = 3
x **= 3
print(x)
#> augmented assignment strings and tuples
s = 'a'
s += 'b'
s *= 3
t = (1,)
t *= 2
print(s, t)
#> augmented assignment on subscript
a = [1, 2, 3]
a[0] += 10
a[-1] *= 2
a[1] //= 2
print(a)
#> augmented assignment on slice
a = [1, 2, 3, 4]
a[1:3] += [9]
print(a)
#> augmented assignment undefined name
zz += 1
#> augmented assignment type error
x = 'a'
x += 1
#> augmented zero division
x = 5
x //= 0
#> augmented on tuple item
t = (1, 2)
t[0] += 1
#> expression statements have no output
1 + 2
'abc'
[1, 2]
x = 3
x
print('done')
#> semicolons
a = 1; b = 2; print(a + b);
print('x'); print('y')
#> comments and blank lines
# a comment
x = 1  # trailing comment

# another

print(x)  # done
#> line continuation
x = 1 + \
    2
print(x)
#> implicit line joining
x = (1 +
     2 +
  3)
y = [1,
2,
      3]
print(x, y, max(1,
 2))
#> name error
print(undefined_name)
#> name error after output
print('first')
print(missing)
#> names are case sensitive
x = 1
print(X)
#> assignment to attribute of int
x = 5
x.y = 1
#> assignment to method of list
a = []
a.append = 1
#> attribute of list missing
[].nothing
#> dunder attributes are refused !AttributeError
print([].__class__)
#> attribute of None
None.x
#> and or short circuit values
print(1 and 2, 0 and 2, 1 or 2, 0 or 2, None or 'x', '' and 1, [] or [1], 1 and 0 or 3, 0 or 0.0 or '')
#> and or short circuit skips errors
print(0 and 1 // 0, 1 or 1 // 0, False and undefined, True or undefined)
#> not
print(not 0, not 1, not '', not 'a', not [], not None, not not 5)
#> chained comparisons
x = 3
print(0 < x < 5, 0 < x > 5, 1 < 2 < 3 < 4, 1 < 3 < 2, 1 == 1 == 1.0, 1 != 2 != 1, 0 <= x <= 3 < 4)
#> chained comparison evaluates once and stops early
a = [1]
print(0 < len(a) < 2, 5 < 1 < 1 // 0)
#> comparison error
print(1 < None)
#> comparison none equality
print(None == None, None != 0, None == False, 0 == False, 1 == True, 2 == True)
#> in and not in chains
print(1 in [1] in [[1]], 2 not in [1] == True)
