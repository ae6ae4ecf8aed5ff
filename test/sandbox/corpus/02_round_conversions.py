#> round half even
print(round(0.5), round(1.5), round(2.5), round(-0.5), round(-1.5), round(-2.5), round(3.4999), round(2.5000001))
#> round returns int
print(round(7.0), round(7), round(True), round(-0.4))
#> round ndigits
print(round(2.675, 2), round(1.005, 2), round(0.125, 2), round(0.375, 2), round(1234.5678, -2), round(-1234.5678, 1))
#> round ndigits zero and negative
print(round(2.5, 0), round(3.5, 0), round(15, -1), round(25, -1), round(-15, -1), round(123456, -3), round(5, -1), round(5, 2))
#> round signed zero and tiny
print(round(-0.001, 2), round(0.001, 2), round(1e-300, 5), round(1e300, -299), round(4.0, -1), round(-4.0, -1))
#> round extreme ndigits
print(round(1.5, 400), round(1.5, -400), round(-1.5, -400), round(12, -400))
#> round specials with ndigits
print(round(float('inf'), 2), round(float('nan'), 1), round(-float('inf'), -1))
#> round inf
print(round(float('inf')))
#> round nan
print(round(float('nan')))
#> round overflow with ndigits
print(round(1.7976931348623157e308, -308))
#> round bad types
print(round('1.5'))
#> round bad ndigits
print(round(1.5, 1.0))
#> round keywords
print(round(number=2.567, ndigits=1), round(3.5, ndigits=None))
#> round missing argument
print(round())
#> int of float truncates
print(int(3.9), int(-3.9), int(0.5), int(-0.5), int(1e20), int(True), int(-0.0))
#> int of str
print(int('42'), int('  -17  '), int('+5'), int('1_000'), int('0'), int('007'))
#> int of str with base
print(int('ff', 16), int('0xff', 16), int('0xff', 0), int('777', 8), int('101', 2), int('z', 36), int('0b11', 0), int('10', base=3))
#> int invalid literal
print(int('12.5'))
#> int invalid literal empty
print(int(''))
#> int invalid underscore
print(int('1__0'))
#> int base zero leading zeros
print(int('010', 0))
#> int bad base
print(int('10', 1))
#> int non-string with base
print(int(10, 2))
#> int of list
print(int([1]))
#> int of nan
print(int(float('nan')))
#> int of inf
print(int(float('inf')))
#> int no args
print(int(), float(), str(), list(), tuple(), bool())
#> float of str
print(float('1.5'), float('  -2e3 '), float('inf'), float('-Infinity'), float('nan'), float('1_0.5'), float('.5'), float('5.'))
#> float of int and bool
print(float(3), float(-0), float(True), float(2 ** 60 + 1), float(10 ** 30))
#> float invalid
print(float('1.2.3'))
#> float invalid word
print(float('abc'))
#> float of list
print(float([]))
#> float keywords refused
print(float(x=1))
#> str and repr of numbers
print(str(1.0), repr(1.0), str(10 ** 20), repr(-0.0), str(True), repr(None), str(1e16))
#> abs
print(abs(-5), abs(5), abs(-2.5), abs(-0.0), abs(True), abs(False), abs(-10 ** 30), abs(float('-inf')))
#> abs of str
print(abs('x'))
#> bool conversions
print(bool(0), bool(1), bool(0.0), bool(-0.0), bool(float('nan')), bool(''), bool(' '), bool([]), bool([0]), bool(()), bool(None), bool(range(0)), bool(range(1)))
