# checker script goes here
