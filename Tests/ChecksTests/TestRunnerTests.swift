import Checks
import Foundation
import Testing

@Suite("ExUnit test runner", .serialized, .enabled(if: Sandbox.available != nil, "bubblewrap cannot run here: generated code is run only in the sandbox"))
struct TestRunnerTests {
    static let code = "defmodule Math do\n  def double(x), do: x * 2\n  def spin, do: spin()\n  def online?, do: match?({:ok, _}, :gen_tcp.connect(~c\"example.com\", 80, [], 2000))\nend\n"

    @Test("passing and failing tests are counted, with the failing test's name, line and message")
    func passAndFail() throws {
        let tests = """
            defmodule MathTest do
              use ExUnit.Case
              test "doubles" do
                assert Math.double(2) == 4
              end
              test "triples" do
                assert Math.double(3) == 9
              end
            end
            """
        let o = try TestRunner().run(code: Self.code, tests: tests)
        #expect(o.tests == 2)
        #expect(o.failures.count == 1)
        #expect(o.failures.first?.test == "test triples")
        #expect(o.failures.first?.line == 6)
        #expect(o.failures.first?.message.contains("Assertion with == failed") == true)
        #expect(!o.passed && o.error == nil)
    }

    @Test("code that does not compile, and code that never returns, are errors, not hangs")
    func errorsAndTimeouts() throws {
        let broken = try TestRunner().run(code: "defmodule A do\n  def f, do: undefined_thing()\nend\n", tests: "defmodule ATest do\n  use ExUnit.Case\n  test \"x\", do: assert true\nend\n")
        #expect(broken.error?.hasPrefix("the candidate does not compile") == true)
        var runner = TestRunner()
        runner.timeout = 3
        let start = Date()
        let hang = try runner.run(code: Self.code, tests: "defmodule SpinTest do\n  use ExUnit.Case\n  @tag timeout: :infinity\n  test \"spins\", do: Math.spin()\nend\n")
        #expect(hang.error == "the tests did not finish within 3 s")
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test("the code under test has no network")
    func noNetwork() throws {
        let o = try TestRunner().run(code: Self.code, tests: "defmodule NetTest do\n  use ExUnit.Case\n  test \"offline\", do: refute Math.online?()\nend\n")
        #expect(o.passed && o.networkIsolated)
    }

    @Test("tests cannot write outside the sandbox, leave a process behind, or hold the run open past its limit")
    func escapes() throws {
        let outside = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent("ec-escape-\(UUID().uuidString)")
        let marker = "3\(Int.random(in: 100...999)).5"
        let tests = """
            defmodule EscapeTest do
              use ExUnit.Case
              test "write outside" do
                assert {:error, _} = File.write("\(outside.path)", "x")
                assert {:error, _} = File.write("candidate.ex", "x")
              end
              test "detach a child and hold the output open" do
                System.cmd("sh", ["-c", "sleep \(marker) >&2 &"])
                assert true
              end
            end
            """
        var runner = TestRunner()
        runner.timeout = 15
        let start = Date()
        let o = try runner.run(code: Self.code, tests: tests)
        #expect(o.passed, "\(o)")
        #expect(Date().timeIntervalSince(start) < 14, "a child holding stderr does not stretch the run")
        #expect(!FileManager.default.fileExists(atPath: outside.path))
        let ps = Process()
        ps.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        ps.arguments = ["-f", "sleep \(marker)"]
        ps.standardOutput = FileHandle.nullDevice
        try ps.run()
        ps.waitUntilExit()
        #expect(ps.terminationStatus == 1, "no process of the run outlives it")
    }

    @Test("examples are evaluated in the same isolated way: values, exceptions, and nil when the code does not run")
    func evaluate() throws {
        let values = try TestRunner().evaluate(code: Self.code, expressions: ["Math.double(21)", "Math.double(:a)", "Math.nope()"])
        #expect(values == ["42", "raise ArithmeticError", "raise UndefinedFunctionError"])
        #expect(try TestRunner().evaluate(code: "defmodule B do\n  def f, do: nope()\nend\n", expressions: ["B.f()"]) == nil)
    }
}
