module example.com/realapps/greeter

go 1.22
