#> int literals
print(0, 7, -7, 1_000_000, 0x1F, 0o17, 0b101, 0_0, 00)
#> float literals
print(1.5, .5, 5., 1e5, 1E-5, 1_0.2_5, 1e+16, 2.5e-3, 0e0)
#> float repr switch points
print(1e15, 1e16, 1e17, 123456789012345678.0, 0.0001, 0.00001, 1.5e-7, 1e-100, 1e300)
#> float repr shortest
print(0.1, 0.2, 0.1 + 0.2, 1 / 3, 2 / 3, 100.0, 1e22, 1e21, 1.7976931348623157e308, 5e-324)
#> float specials
print(float('inf'), -float('inf'), float('nan'), 1e309, -1e309, -0.0, 0.0 * -1)
#> true division always float
print(4 / 2, 1 / 3, -7 / 2, 7 / -2, 0 / 5, 0 / -5, 10 ** 20 / 10 ** 10)
#> true division of big ints correctly rounded
print(2 ** 60 / 3, (2 ** 80 + 1) / 2 ** 27, 10 ** 40 / 7, -(3 ** 50) / 11)
#> floor division ints
print(7 // 2, -7 // 2, 7 // -2, -7 // -2, 0 // 3, 6 // 3, -6 // 3)
#> modulo ints
print(7 % 3, -7 % 3, 7 % -3, -7 % -3, 0 % 5, 6 % -3, -6 % 3)
#> floor division floats
print(7.5 // 2, -7.5 // 2, 7.5 // -2, -7.5 // -2.0, 1.0 // 0.1, -1.0 // 0.1, 0.0 // -3)
#> modulo floats
print(7.5 % 2, -7.5 % 2, 7.5 % -2, -7.5 % -2, 1.0 % 0.1, -0.0 % 5, 0.0 % -5, 5 % 0.5)
#> modulo float signs of zero
print(-6.0 % 3, 6.0 % -3, -6 % 3.0, 3.0 % float('inf'), -3.0 % float('inf'))
#> mixed int float
print(1 + 2.0, 3 * 0.5, 2 - 0.5, 10 // 2.5, 10 % 2.5, 2 ** 0.5, 2.0 ** 3)
#> power ints
print(2 ** 10, (-2) ** 3, -2 ** 2, 2 ** 0, 0 ** 0, 10 ** 30, (-1) ** 101)
#> power negative exponent gives float
print(2 ** -1, 10 ** -2, (-2) ** -3, 4 ** -0.5)
#> power right assoc
print(2 ** 3 ** 2, (2 ** 3) ** 2, 2 ** -2 ** 2)
#> power floats
print(1.5 ** 2, 0.0 ** 0, float('inf') ** 0, 1.0 ** float('nan'), (-1.0) ** float('inf'), 0.5 ** float('inf'), 2.0 ** -float('inf'))
#> power float overflow
print(10.0 ** 308)
x = 10.0 ** 309
#> float multiply overflow is inf
print(1e308 * 10, -1e308 * 10, 1e308 + 1e308, 1e308 * 10 - 1e308 * 10)
#> int float comparisons exact
print(2 ** 53 + 1 == 2.0 ** 53, 2 ** 53 == 2.0 ** 53, 2 ** 53 + 1 > 2.0 ** 53, 1 < 1.5 < 2, 10 ** 30 < float('inf'))
#> nan comparisons
n = float('nan')
print(n == n, n != n, n < 1, n > 1, 1 <= n, n == 1.0)
#> bool arithmetic
print(True + True, True * 3, -True, +False, True / 2, True // 1, 3 - False, True ** 2, 2 ** True)
#> unary
print(-5, +5, - -5, -(-5.5), +(-0.0), --1, -+-1)
#> big ints exact
print(2 ** 100, -(2 ** 100), 3 ** 60 * 7 ** 20, 12345678901234567890 * 98765432109876543210)
#> big int floor and mod
print((10 ** 30 + 7) // 3, -(10 ** 30 + 7) // 3, (10 ** 30 + 7) % -13, -(10 ** 30) % 7)
#> int division by zero
print(1 // 0)
#> int modulo by zero
print(5 % 0)
#> int true division by zero
print(1 / 0)
#> float division by zero
print(1.0 / 0)
#> float floor division by zero
print(1.5 // 0.0)
#> float modulo by zero
print(1.5 % 0)
#> zero to negative power
print(0 ** -1)
#> zero float to negative power
print(0.0 ** -2.5)
#> output before error is kept
print('before')
print(1 // 0)
print('after')
#> precedence
print(1 + 2 * 3, (1 + 2) * 3, 2 * 3 ** 2, -3 ** 2, 10 - 4 - 3, 100 / 10 / 5, 2 * 3 % 4, 7 // 2 * 2)
#> precedence with comparisons and not
print(not 1 == 2, not 1 + 1 == 2, 1 + 1 == 2 and 3 > 2, 0 or 1 and 2)
#> arithmetic on None
print(None + 1)
#> arithmetic str minus
print('a' - 'b')
#> unary minus on str
print(-'a')
#> power on str
print('a' ** 2)
#> division str
print('a' / 2)
