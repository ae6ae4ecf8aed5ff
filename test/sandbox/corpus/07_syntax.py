#> invalid syntax missing operand
x = 1 +
#> invalid syntax two values
x = 1 2
#> unbalanced paren
print((1, 2)
#> unmatched closing
print(1))
#> mismatched brackets
x = [1, 2)
#> unexpected indent
x = 1
  y = 2
#> unexpected indent first line
   print(1)
#> syntax error stops everything
print('never')
x = = 1
#> syntax error after valid lines still first
print('a')
print('b'
#> syntax error before indentation error
x = (
y = 1
  z = 2
#> assign to literal
1 = x
#> assign to call
f() = 1
#> assign to expression
a + b = 1
#> assign to True
True = 1
#> assign to None
None = 1
#> augmented assign to tuple
a, b += 1
#> augmented assign to literal
5 += 1
#> double augmented
x = 1
x += y += 1
#> keyword argument repeated
print(1, sep='', sep='')
#> positional after keyword
print(sep='', 1)
#> keyword expression
print(1 + 1=2)
#> keyword True
print(True=1)
#> empty subscript
x = [1]
x[]
#> trailing operator
x = 2 *
#> double comma
x = [1,, 2]
#> lone comma
,
#> dot number
x = 1.foo
#> attribute number
x = [1].1
#> leading zero literal
x = 0123
#> bad underscore literal
x = 1__000
#> trailing underscore literal
x = 100_
#> bad hex literal
x = 0xg
#> invalid character
x = 1 $ 2
#> backslash then text
x = 1 \ 2
#> keyword as name
class = 5
#> keyword in expression
x = 1 + for
#> not in wrong place
x = 1 + not 2
#> unclosed bracket at end
x = [1,
     2,
#> unterminated string literal
x = 'abc
#> unary minus on nothing
x = -
#> keyword argument to non-name
print(x.y=1)
#> empty parens call ok and empty program
print()
#> only comments
# nothing here
#> import is outside the subset !SyntaxError
import os
#> from import is outside the subset !SyntaxError
from os import path
#> def is outside the subset !SyntaxError
def f():
    return 1
#> lambda is outside the subset !SyntaxError
f = lambda x: x
#> if is outside the subset !SyntaxError
if True:
    print(1)
#> for is outside the subset !SyntaxError
for i in range(3):
    print(i)
#> while is outside the subset !SyntaxError
while False:
    pass
#> with is outside the subset !SyntaxError
with x:
    pass
#> try is outside the subset !SyntaxError
try:
    x = 1
except:
    pass
#> class is outside the subset !SyntaxError
class A:
    pass
#> comprehension is outside the subset !SyntaxError
x = [i for i in range(3)]
#> generator argument is outside the subset !SyntaxError
x = sum(i for i in range(3))
#> conditional expression is outside the subset !SyntaxError
x = 1 if True else 2
#> dict display is outside the subset !SyntaxError
x = {1: 2}
#> set display is outside the subset !SyntaxError
x = {1}
#> is operator is outside the subset !SyntaxError
x = None is None
#> star arguments are outside the subset !SyntaxError
print(*[1, 2])
#> starred assignment is outside the subset !SyntaxError
a, *b = [1, 2, 3]
#> walrus is outside the subset !SyntaxError
print(x := 1)
#> bitwise operators are outside the subset !SyntaxError
x = 1 & 2
#> shift operators are outside the subset !SyntaxError
x = 1 << 2
#> del is outside the subset !SyntaxError
x = 1
del x
#> pass is outside the subset !SyntaxError
pass
#> return is outside the subset !SyntaxError
return 5
#> global is outside the subset !SyntaxError
global x
#> assert is outside the subset !SyntaxError
assert True
#> raise is outside the subset !SyntaxError
raise ValueError
#> complex literal is outside the subset !SyntaxError
x = 1j
#> annotation is outside the subset !SyntaxError
x: int = 1
#> ellipsis is outside the subset !SyntaxError
x = ...
#> matrix multiply is outside the subset !SyntaxError
x = [1] @ [2]
#> tilde is outside the subset !SyntaxError
x = ~1
#> multi-dimensional slice is outside the subset !SyntaxError
x = [1][1:2, 3]
#> non-ascii identifier is outside the subset !SyntaxError
é = 1
#> named escape is outside the subset !SyntaxError
x = '\N{BULLET}'
#> yield is outside the subset !SyntaxError
yield 1
#> await is outside the subset !SyntaxError
await x
