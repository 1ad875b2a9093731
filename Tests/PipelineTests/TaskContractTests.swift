import Checks
@testable import Pipeline
import Testing

@Suite("Task contracts")
struct TaskContractTests {
    @Test("the module, functions and examples a task names")
    func prompt() {
        let c = TaskContract.parse(task: "Write a module `WordStats` with a function `count_words(text)` that counts words.\n\n    iex> WordStats.count_words(\"a b a\")\n    %{\"a\" => 2, \"b\" => 1}\n")
        #expect(c.module == "WordStats")
        #expect(c.functions.map(\.description) == ["count_words/1"])
        #expect(c.head == FunctionHead(name: "count_words", parameters: ["text"]))
        #expect(c.examples == [Example(expression: "WordStats.count_words(\"a b a\")", expected: "%{\"a\" => 2, \"b\" => 1}")])
        let bytes = TaskContract.parse(task: "Write `ByteSum.checksum(data)`.\n\n    iex> ByteSum.checksum(<<200, 100>>)\n    44\n")
        #expect(bytes.functions.map(\.description) == ["checksum/1"], "a binary's bytes are one argument")
    }

    @Test("a struct the task describes, options with their defaults, and parameters with defaults")
    func declarations() {
        let point = TaskContract.parse(task: "Write a module `GridPoint` that defines a struct with the fields `x` and `y` (both defaulting to 0) and a function `translate(point, dx, dy)` that returns a new `%GridPoint{}`.")
        #expect(point.structure?.keywords == "x: 0, y: 0")
        let account = TaskContract.parse(task: "Write a module `BankAccount` that defines a struct with the fields `owner` (default nil), `balance` (default 0) and `history` (default []). Implement `deposit(account, amount)`.")
        #expect(account.structure?.keywords == "owner: nil, balance: 0, history: []")
        let cart = TaskContract.parse(task: "Write a module `ShopCart` that defines a struct with a single field `items` (default `%{}`), a map of item name => `%{price: price, qty: qty}`. Add a function `add_item(cart, name)`.")
        #expect(cart.structure?.keywords == "items: %{}", "the map after the field is no field")
        let book = TaskContract.parse(task: "Write a module `BookRecord` that defines a struct with the fields `title`, `author` and `year` (all defaulting to nil) and a function `describe(book)`.")
        #expect(book.structure?.fields.map(\.name) == ["title", "author", "year"] && book.structure?.keywords == "title: nil, author: nil, year: nil")
        #expect(TaskContract.parse(task: "Write `Sum.sum(list)` over a struct of numbers.").structure == nil, "no \"struct with\": none")
        #expect(TaskContract.parse(task: "Write `Users.adult?(user)` given a `%User{}` struct with the fields `name` and `age`.").structure == nil,
                "a struct the task only mentions is another module's")
        #expect(TaskContract.parse(task: "Implement `total(cart)`; a struct with `items`.", context: "defmodule C do\n  def total(cart) do\n  end\nend\n").structure == nil,
                "a stub's file defines its own structs")

        let greet = TaskContract.parse(task: "Write a module `Salutation` with a function `greet(name, opts \\\\ [])`. The keyword list `opts` accepts `:greeting` (default \"Hello\") and `:punctuation` (default \"!\"); `:position` (`:before` (default) or `:after`).")
        #expect(greet.head == FunctionHead(name: "greet", parameters: ["name", "opts"], defaults: [nil, "[]"]))
        #expect(greet.head?.signature(unread: ["name"]) == "greet(_name, opts \\\\ [])")
        #expect(greet.options == [DocumentedOption(key: "greeting", defaultValue: "\"Hello\""), DocumentedOption(key: "punctuation", defaultValue: "\"!\"")],
                "a bare \"(default)\" names no value")
    }

    @Test("examples written as f(x) == y, f(x) #=> y and \"f(x) returns y\", qualified with the module")
    func exampleForms() {
        let c = TaskContract.parse(task: "Module `Math` with `add(a, b)` and `neg/1`.\nadd(1, 2) == 3\n`Math.neg(4) #=> -4`\nExample: add(2, 2) returns 4.\nThis returns the sum of them.")
        #expect(c.examples == [Example(expression: "Math.add(1, 2)", expected: "3"), Example(expression: "Math.neg(4)", expected: "-4"),
                               Example(expression: "Math.add(2, 2)", expected: "4")])
        #expect(Set(c.functions.map(\.description)) == ["add/2", "neg/1"])
        #expect(c.head == nil, "two functions named: no single head to prefill")
    }

    @Test("a stub in the context: its function, the file around it, the module it lives in")
    func stub() throws {
        let file = "defmodule Shop.Cart do\n  @moduledoc \"Carts.\"\n\n  def total(items, tax) do\n    # TODO\n  end\n\n  def empty, do: []\nend\n"
        let c = TaskContract.parse(task: "Implement `total/2`.", context: file)
        let stub = try #require(c.stub)
        #expect(c.module == "Shop.Cart")
        #expect(stub.function.description == "total/2")
        #expect(stub.head.hasSuffix("  def total(items, tax) do"))
        #expect(stub.tail.hasPrefix("  end\n\n  def empty"))
        let s = Scaffold.stub(stub)
        #expect(s.head.hasSuffix("  def total(items, tax) do\n    ") && s.requiresBody, "the body's first line is begun for the model")
        let filled = s.code(from: "Enum.sum(items) * tax\n")
        #expect(filled == file.replacingOccurrences(of: "    # TODO\n", with: "    Enum.sum(items) * tax\n"))
        #expect(s.stops.contains("\n  end") && s.stops.contains("\nend"))
        #expect(CodeGenerator.keepsTail(stub.tail, of: filled) && CodeGenerator.keepsTail(stub.tail, of: filled.replacingOccurrences(of: "\n\n", with: "\n")))
        #expect(!CodeGenerator.keepsTail(stub.tail, of: "defmodule Shop.Cart do\n  def total(items, tax) do\n    x\n  end\nend\n"), "closing cut the other functions")
        for start in ["end", " end", "end\n", "\n", "\n    x", "  ", "# TODO", " #"] { #expect(Scaffold.leavesBodyEmpty(start), "\(start)") }
        for start in ["ending", "end_at", "Enum", " x", "(", "[", "\"", "  case"] { #expect(!Scaffold.leavesBodyEmpty(start), "\(start)") }
        // A function with a body is not a stub.
        #expect(TaskContract.parse(task: "x", context: "defmodule A do\n  def f(x) do\n    x\n  end\nend\n").stub == nil)
    }

    @Test("a candidate missing the named module or function gets a contract finding")
    func findings() {
        let c = TaskContract.parse(task: "Write `Acc.push(stack, x)` and `Acc.pop/1`.")
        #expect(c.problems(modules: ["Acc"], functions: ["Acc.push/2", "Acc.pop/1"]).isEmpty)
        #expect(c.problems(modules: ["Acc"], functions: ["Acc.push/2", "Acc.pop/2"]).map(\.check) == ["Contract.MissingFunction"])
        #expect(c.problems(modules: ["Other"], functions: ["Other.push/2", "Other.pop/1"]).map(\.check)
                == ["Contract.MissingModule", "Contract.MissingFunction", "Contract.MissingFunction"])
    }
}
