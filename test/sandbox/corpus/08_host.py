#> clue image attributes
print(image_clue_0.width, image_clue_0.height, image_clue_0.size, image_clue_0)
#> clue image pixel
print(image_clue_0.pixel(0, 0), image_clue_0.pixel(3, 2), image_clue_0.pixel(1, 1))
#> pixel out of range
print(image_clue_0.pixel(4, 0))
#> pixel bad type
print(image_clue_0.pixel(1.0, 0))
#> show the clue image
show(image_clue_0)
print('shown')
#> show a crop
c = image_clue_0.crop((1, 0, 3, 2))
print(c.size)
show(c)
#> crop outside parts are black
c = image_clue_0.crop((-1, -1, 2, 1))
print(c.size, c.pixel(0, 0), c.pixel(1, 1), c.pixel(2, 1))
show(c)
#> crop of a crop
c = image_clue_0.crop((0, 0, 4, 3)).crop((1, 1, 3, 3))
show(c)
print(c.pixel(0, 0) == image_clue_0.pixel(1, 1))
#> crop with computed box
w, h = image_clue_0.size
box = (w // 2, 0, w, h // 2 + 1)
show(image_clue_0.crop(box))
print(box)
#> crop bad box
image_clue_0.crop([0, 0, 1, 1])
#> crop empty box
image_clue_0.crop((2, 2, 1, 1))
#> show of non-image
show(5)
#> show of a list
show([image_clue_0])
#> show twice
show(image_clue_0)
show(image_clue_0)
#> image attribute missing
image_clue_0.nothing
#> image attribute assignment
image_clue_0.width = 5
#> image new attribute assignment
image_clue_0.extra = 5
#> image is not subscriptable
image_clue_0[0]
#> image has no len
len(image_clue_0)
#> image is not iterable
list(image_clue_0)
#> image in a list
a = [image_clue_0, 1]
print(len(a), a[1], a[0].size)
#> image equality is identity
print(image_clue_0 == image_clue_0, image_clue_0 != 1)
#> image comparison
print(image_clue_0 < image_clue_0)
#> image arithmetic
print(image_clue_0 + 1)
#> clue image can be rebound
image_clue_0 = 5
print(image_clue_0)
#> async host call in an expression
print(slow_add(1, 2), slow_add(1, 2) * 10, [slow_add(2, 3), slow_add(0.5, 0.25)])
#> async host calls nested
x = slow_add(slow_add(1, 2), slow_add(3, 4))
print(x, max(slow_add(1, 1), 1), slow_add(1, 2) < slow_add(2, 2) < 5)
#> async call inside subscript and slice
a = [0, 1, 2, 3, 4]
print(a[slow_add(1, 1)], a[slow_add(0, 1):slow_add(2, 2)])
a[slow_add(0, 0)] = slow_add(9, 9)
print(a)
#> async call error
slow_add(1, 'a')
#> async call after output and before error
print('a')
x = slow_add(1, 2)
print(x)
y = x // 0
#> async call in short circuit skipped
print(0 and slow_add(1, 'x'), 1 or slow_add(1, 'x'))
#> async call in augmented assignment
x = 1
x += slow_add(1, 1)
a = [1]
a[0] += slow_add(2, 2)
print(x, a)
#> async call in unpacking
a, b = slow_add(1, 1), slow_add(2, 2)
print(a, b)
