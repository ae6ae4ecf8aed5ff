#> state persists across turns
x = 5
#--
print(x + 1)
#--
x += 1
print(x)
#> lists persist and mutate across turns
a = [1]
#--
a.append(2)
#--
print(a)
#> error in one turn keeps earlier assignments
a = 1
b = 1 // 0
#--
print(a)
#--
print(b)
#> syntax error in a turn runs nothing of it
x = 1
#--
x = 2
y = (
#--
print(x)
#> shown images per turn
show(image_clue_0)
#--
print('no image')
#--
c = image_clue_0.crop((0, 0, 2, 2))
show(c)
show(c)
#> a turn can use what an earlier turn cropped
c = image_clue_0.crop((0, 0, 2, 2))
#--
show(c.crop((1, 1, 2, 2)))
print(c.size)
#> shadowing persists
print = 1
#--
x = print
#> builtins restored only by rebinding
len = 5
#--
print(len)
