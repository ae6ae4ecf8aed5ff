#> string literals and quotes
print('single', "double", 'it"s', "it's", '''triple''', """tri"ple""", 'a' 'b' "c")
#> escapes
print('tab\there', 'new\nline', 'back\\slash', 'quote\'s', "dq\"s", '\x41\x62', '\101', '\u00e9', '\U0001F600', len('bell\a'))
#> unknown escapes kept
print('\d\w', len('\d'), '\q')
#> raw strings
print(r'\n\t', r"a\"b", len(r'\\'), R'\x41')
#> u prefix
print(u'unicode', U"x")
#> backslash newline in string
s = 'abc\
def'
print(s)
#> triple quoted multiline
s = """line1
line2
  line3"""
print(s)
print(len(s))
#> repr of strings
print(repr('a'), repr("it's"), repr('say "hi"'), repr('both \' and "'), repr('tab\t'), repr('nl\n'), repr('\x00\x1f\x7f'), repr('back\\'))
#> repr of unicode
print(repr('é'), repr('日本'), repr('\u200b'), repr('\xa0'), repr('\U0001F600'), repr('\ud800'))
#> strings in containers use repr
print(['a', "b'c", 'd"e'], ('x',), [''], ['\n'])
#> str of str is itself
print(str('abc'), str(''), str("a'b"))
#> concatenation and repetition
print('ab' + 'cd', 'ab' * 3, 3 * 'ab', 'ab' * 0, 'ab' * -2, 'x' * True, '' * 100)
#> str plus int
print('a' + 1)
#> int plus str
print(1 + 'a')
#> str times float
print('a' * 2.0)
#> str times str
print('a' * 'b')
#> indexing strings
s = 'hello'
print(s[0], s[-1], s[4], s[-5], s[True])
#> string index out of range
print('abc'[3])
#> string negative index out of range
print('abc'[-4])
#> string index float
print('abc'[1.0])
#> string slices
s = 'hello world'
print(s[1:4], s[:5], s[6:], s[-5:], s[:-6], s[::2], s[::-1], s[8:2:-2], s[100:], s[-100:3], s[5:5], s[::-3])
#> string slice step zero
print('abc'[::0])
#> string slice bad index
print('abc'['a':])
#> string comparisons
print('a' < 'b', 'abc' < 'abd', 'ab' < 'abc', 'B' < 'a', '' < 'a', 'a' == 'a', 'a' != 'A', 'z' >= 'za', 'é' > 'z')
#> string in
print('ell' in 'hello', 'x' in 'hello', '' in 'abc', 'abc' in 'abc', 'b' not in 'abc')
#> in with non-string left
print(1 in 'abc')
#> len of strings
print(len(''), len('abc'), len('日本'), len('\U0001F600'), len('a\nb'))
#> string item assignment
s = 'abc'
s[0] = 'x'
#> str comparison with int
print('a' < 1)
#> str equality with other types
print('1' == 1, 'a' == ['a'], '' == None, 'a' != 1)
#> printf formatting is not supported !NotImplementedError
print('%d' % 5)
#> f-strings are not supported !SyntaxError
print(f'{1}')
#> bytes are not supported !SyntaxError
print(b'abc')
#> string methods are outside the subset !AttributeError
print('abc'.upper())
#> unterminated string
print('abc)
#> unterminated triple string
print('''abc)
#> truncated hex escape
print('\x4')
#> list of chars
print(list('abc'), tuple('xy'), sorted('banana'), max('hello'), min('hello'))
