#!/usr/bin/env python3
"""Writes bench/grammar_prefixes.jsonl: Elixir code prefixes for `elixir-coder bench grammar`.

Deterministic (no randomness): the same file comes out on every run. Each prefix is a
module head and an open construct (a `def ... do`, a `case`, an `fn`, a pipeline, a string),
so the model has to finish the code and close what is open.
"""
import json
import os

MODULES = [
    ("Geometry", "Area and perimeter of simple shapes.", [("area", "width, height", "width * height"), ("perimeter", "width, height", "2 * (width + height)")]),
    ("Temperature", "Temperature conversions.", [("to_fahrenheit", "celsius", "celsius * 9 / 5 + 32"), ("to_celsius", "fahrenheit", "(fahrenheit - 32) * 5 / 9")]),
    ("WordCount", "Counts words in text.", [("count", "text", "text |> String.split() |> length()"), ("unique", "text", "text |> String.split() |> Enum.uniq()")]),
    ("Inventory", "A stock of items kept in a map.", [("add", "stock, item, qty", "Map.update(stock, item, qty, &(&1 + qty))"), ("remove", "stock, item", "Map.delete(stock, item)")]),
    ("Greeter", "Greets people by name.", [("hello", "name", "\"Hello, #{name}!\""), ("bye", "name", "\"Bye, #{name}.\"")]),
    ("MathUtils", "Small arithmetic helpers.", [("square", "x", "x * x"), ("cube", "x", "x * x * x")]),
    ("ListTools", "Helpers for lists.", [("sum", "list", "Enum.sum(list)"), ("double", "list", "Enum.map(list, &(&1 * 2))")]),
    ("Accounts", "Bank account balances.", [("deposit", "balance, amount", "balance + amount"), ("withdraw", "balance, amount", "balance - amount")]),
    ("Slug", "Turns titles into URL slugs.", [("slugify", "title", "title |> String.downcase() |> String.replace(\" \", \"-\")"), ("valid?", "slug", "slug =~ ~r/^[a-z0-9-]+$/")]),
    ("Matrix", "Two-dimensional lists of numbers.", [("transpose", "rows", "rows |> Enum.zip() |> Enum.map(&Tuple.to_list/1)"), ("identity", "n", "for i <- 1..n, do: for(j <- 1..n, do: if(i == j, do: 1, else: 0))")]),
    ("Parser", "Parses comma-separated integers.", [("parse", "input", "input |> String.split(\",\") |> Enum.map(&String.to_integer/1)"), ("join", "numbers", "Enum.join(numbers, \",\")")]),
    ("Stack", "A stack on a list.", [("push", "stack, item", "[item | stack]"), ("peek", "stack", "List.first(stack)")]),
    ("Fizz", "FizzBuzz.", [("fizzbuzz", "n", "Enum.map(1..n, &word/1)"), ("word", "n", "to_string(n)")]),
    ("Config", "Reads settings from keyword lists.", [("get", "opts, key", "Keyword.get(opts, key)"), ("merge", "a, b", "Keyword.merge(a, b)")]),
    ("Roman", "Roman numerals.", [("to_roman", "n", "Integer.to_string(n)"), ("digits", "n", "Integer.digits(n)")]),
    ("Queue", "A queue on two lists.", [("new", "", "{[], []}"), ("size", "{front, back}", "length(front) + length(back)")]),
    ("Vowels", "Counts vowels.", [("count", "text", "text |> String.graphemes() |> Enum.count(&(&1 in ~w(a e i o u)))"), ("strip", "text", "String.replace(text, ~r/[aeiou]/, \"\")")]),
]

BODIES = [
    "    ",
    "    result =\n      ",
    "    case {ARGS} do\n      ",
    "    Enum.reduce([ARGS], 0, fn x, acc ->\n      ",
    "    if is_nil({FIRST}) do\n      ",
    "    \"",
]


def first_argument(args):
    """The first argument of a parameter list, at top level: `{front, back}, x` gives `{front, back}`."""
    depth = 0
    for i, c in enumerate(args):
        depth += c in "([{"
        depth -= c in ")]}"
        if c == "," and depth == 0:
            return args[:i].strip()
    return args.strip()


def prefixes():
    out = []
    for module, doc, funs in MODULES:
        for k, (name, args, body) in enumerate(funs):
            first = first_argument(args) or "nil"
            for b, starter in enumerate(BODIES):
                if b == 5 and k == 1:
                    continue
                head = f"defmodule {module} do\n  @moduledoc \"{doc}\"\n\n"
                if k == 1:
                    other, oargs, obody = funs[0]
                    head += f"  def {other}({oargs}) do\n    {obody}\n  end\n\n"
                subject = ("{" + args + "}" if "," in args else args) or "nil"
                text = starter.replace("{ARGS}", subject).replace("[ARGS]", f"[{args}]" if args else "[]").replace("{FIRST}", first)
                fn_args = f"({args})" if args else ""
                out.append({"id": f"{module.lower()}-{name.rstrip('?')}-{b}", "prefix": head + f"  def {name}{fn_args} do\n" + text})
    return out


if __name__ == "__main__":
    rows = prefixes()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grammar_prefixes.jsonl")
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} prefixes to {path}")
