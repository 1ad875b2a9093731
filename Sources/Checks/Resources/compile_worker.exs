# ElixirCoder's compile worker: compiles candidates and runs their examples, one request per line.
#
# Request: "<id>\tcompile\t<base64 code>\t<examples>", where <examples> is a comma-separated list
# of "<base64 expression>:<base64 expected>" pairs (empty for none).
# Or: "<id>\tsynth\t<base64 spec>\t", where the spec is text lines (see ECCompile.synthesize/1).
# Answer: "EC\t<id>\t<json>" on one line. Anything else on stdout is the candidate's own output and
# is ignored by the caller, which only reads lines tagged with the id it sent.
#
# Compiling runs a module's body, so this script is started inside a sandbox (see CompileWorker.swift):
# no network, a read-only file system but for a private /tmp, limits on memory and time. Here each
# request also runs in its own process with a heap limit and a deadline, its output goes to a
# private device, and every module it defined and every process it started is removed afterwards.
Code.require_file("json.exs", __DIR__)
Code.require_file("synthesizer.exs", __DIR__)

defmodule ECCompile do
  @file_name "candidate.ex"
  @compile_ms 5_000
  @example_ms 1_000
  # 256 MiB of heap per process that runs candidate code.
  @heap_words div(256 * 1024 * 1024, 8)

  def handle(code, examples) do
    modules_before = MapSet.new(for {m, _} <- :code.all_loaded(), do: m)
    {:ok, device} = StringIO.open("")
    {outcome, stderr} = capture_stderr(fn -> isolated(device, @compile_ms, fn -> Code.compile_string(code, @file_name) end) end)
    lines = String.split(code, "\n")
    diagnostics = parse_stderr(stderr, lines) ++ error_diagnostics(outcome, lines)

    reply =
      case outcome do
        {:ok, modules} ->
          %{compiled: true, modules: Enum.map(modules, fn {m, _} -> inspect(m) end),
            functions: for({m, _} <- modules, {f, a} <- m.__info__(:functions), do: "#{inspect(m)}.#{f}/#{a}"),
            examples: Enum.map(examples, &run_example(device, &1))}
        _ ->
          %{compiled: false, modules: [], functions: [], examples: []}
      end

    cleanup(device, modules_before)
    Map.put(reply, :diagnostics, diagnostics)
  end

  # Runs `fun` in a fresh process whose output goes to `device`, with a heap limit and a deadline.
  defp isolated(device, timeout, fun) do
    parent = self()
    {pid, ref} =
      spawn_monitor(fn ->
        Process.group_leader(self(), device)
        Process.flag(:max_heap_size, %{size: @heap_words, kill: true, error_logger: false})
        result =
          try do
            {:ok, fun.()}
          rescue
            e -> {:raised, e, __STACKTRACE__}
          catch
            kind, reason -> {:raised, {kind, reason}, __STACKTRACE__}
          end
        send(parent, {self(), result})
      end)

    receive do
      {^pid, result} ->
        Process.demonitor(ref, [:flush])
        result
      {:DOWN, ^ref, :process, ^pid, :killed} -> {:stopped, "it used more than #{div(@heap_words * 8, 1024 * 1024)} MiB of memory and was stopped"}
      {:DOWN, ^ref, :process, ^pid, reason} -> {:stopped, "it crashed: #{inspect(reason, limit: 5)}"}
    after
      timeout ->
        Process.exit(pid, :kill)
        {:stopped, "it ran longer than #{timeout} ms and was stopped"}
    end
  end

  defp capture_stderr(fun) do
    {:ok, dev} = StringIO.open("")
    old = Process.whereis(:standard_error)
    Process.unregister(:standard_error)
    Process.register(dev, :standard_error)
    try do
      result = fun.()
      {result, elem(StringIO.contents(dev), 1)}
    after
      Process.unregister(:standard_error)
      Process.register(old, :standard_error)
      StringIO.close(dev)
    end
  end

  # Processes the candidate started inherit its output device: stop them all, then unload its modules.
  defp cleanup(device, modules_before) do
    for p <- Process.list(), p != self(), Process.info(p, :group_leader) == {:group_leader, device}, do: Process.exit(p, :kill)
    kill_new_os_processes()
    StringIO.close(device)
    for {m, _} <- :code.all_loaded(), not MapSet.member?(modules_before, m) do
      :code.purge(m)
      :code.delete(m)
      :code.purge(m)
    end
  end

  # OS processes a candidate started and left running (`sh -c 'sleep 60 &'`) would outlive its
  # request's limits: anything in the sandbox's own process namespace that was not there when
  # the worker started is killed. Only inside bubblewrap, whose namespace holds nothing else.
  def os_baseline do
    if sandboxed?(), do: :persistent_term.put({__MODULE__, :os_baseline}, os_pids())
  end

  defp kill_new_os_processes do
    with baseline when is_list(baseline) <- :persistent_term.get({__MODULE__, :os_baseline}, nil),
         [_ | _] = extra <- os_pids() -- baseline do
      kill(extra)
      await_exit(extra, 200)
    end
  end

  defp kill(pids), do: :os.cmd(String.to_charlist("kill -9 " <> Enum.join(pids, " ") <> " 2>/dev/null"))

  # A killed process exits when it is next scheduled, which on a busy machine is later than
  # `kill` returns: the request is answered only once they have exited (at most about two
  # seconds). The kill is sent again every 0.2 s to those still running, in case its shell
  # could not start.
  defp await_exit(_pids, 0), do: :ok
  defp await_exit(pids, tries) do
    case Enum.filter(pids, &running?/1) do
      [] -> :ok
      left ->
        if rem(tries, 20) == 0, do: kill(left)
        Process.sleep(10)
        await_exit(left, tries - 1)
    end
  end

  # Exited processes are gone from /proc or wait there as zombies (state Z or X) for their parent.
  defp running?(pid) do
    case File.read("/proc/#{pid}/stat") do
      {:ok, stat} -> (stat |> String.split(") ") |> List.last() |> String.first()) not in ["Z", "X"]
      _ -> false
    end
  end

  defp sandboxed? do
    match?({:ok, cmd} when is_binary(cmd), File.read("/proc/1/cmdline")) and String.contains?(elem(File.read("/proc/1/cmdline"), 1), "bwrap")
  end

  defp os_pids do
    case File.ls("/proc") do
      {:ok, names} -> for n <- names, match?({_, ""}, Integer.parse(n)), do: n
      _ -> []
    end
  end

  # Compiler warnings (and errors, on newer Elixir) as printed: a "warning: ..." block whose last
  # line names the file and line.
  defp parse_stderr(text, lines) do
    text
    |> String.split(~r/\n\s*\n/, trim: true)
    |> Enum.flat_map(fn block ->
      case Regex.run(~r/^(warning|error): (.*?)\n\s+#{Regex.escape(@file_name)}:(\d+)(?::(\d+))?/s, String.trim_leading(block)) do
        [_, severity, message, line | rest] ->
          line = String.to_integer(line)
          message = String.replace(message, ~r/\s*\n\s*/, " ")
          [diagnostic(severity, message, line, column(rest, message, lines, line))]
        _ -> []
      end
    end)
  end

  defp error_diagnostics({:raised, %{__struct__: struct} = e, stack}, lines) when struct in [CompileError, SyntaxError, TokenMissingError] do
    line = Map.get(e, :line) || stack_line(stack) || 1
    message = Map.get(e, :description) || Exception.message(e)
    [diagnostic("error", message, line, column([], message, lines, line))]
  end
  defp error_diagnostics({:raised, e, stack}, _lines) do
    message = if is_exception(e), do: "#{inspect(e.__struct__)}: #{Exception.message(e)}", else: inspect(e, limit: 10)
    [diagnostic("error", "the module body raised " <> message, stack_line(stack) || 1, nil)]
  end
  defp error_diagnostics({:stopped, why}, _lines), do: [diagnostic("error", "compiling stopped: " <> why, 1, nil)]
  defp error_diagnostics(_, _), do: []

  defp stack_line(stack) do
    Enum.find_value(stack, fn {_, _, _, info} -> if to_string(info[:file]) == @file_name, do: info[:line] end)
  end

  # Elixir 1.14 gives no columns: point at the name the message quotes, when the line has it.
  defp column([c | _], _message, _lines, _line) when is_binary(c) and c != "", do: String.to_integer(c)
  defp column(_, message, lines, line) do
    name =
      case Regex.run(~r/(?:variable|function|module attribute @?|type) "?([a-z_][a-zA-Z0-9_?!]*)/, message) do
        [_, n] -> n
        _ -> nil
      end
    text = Enum.at(lines, line - 1) || ""
    with n when is_binary(n) <- name, [{i, _} | _] <- Regex.run(~r/\b#{Regex.escape(n)}\b/, text, return: :index) do
      i + 1
    else
      _ -> nil
    end
  end

  defp diagnostic(severity, message, line, column),
    do: %{severity: severity, check: check_id(severity, message), line: line, column: column, message: message}

  @ids [
    {~r/^variable "[^"]+" is unused/, "UnusedVariable"},
    {~r/^undefined variable|^undefined function \w+\/\d+ \(there is no such import\)|^variable "[^"]+" does not exist/, "UndefinedVariable"},
    {~r/^undefined function|^undefined remote function|is undefined or private|is undefined \(module/, "UndefinedFunction"},
    {~r/^function \S+ is unused/, "UnusedFunction"},
    {~r/^this clause .* cannot match|^this check\/guard will always/, "UnreachableClause"},
    {~r/^clauses with the same name and arity/, "UngroupedClauses"},
    {~r/^def \S+ has multiple clauses and also declares default values/, "DefaultsInClauses"},
    {~r/redefin|^cannot define def|already defined/, "Redefinition"},
    {~r/^type \S+ undefined|^undefined type|spec for undefined function/, "UndefinedType"},
    {~r/^unused alias|^unused import/, "UnusedAliasOrImport"},
    {~r/^module attribute @\S+ was set but never used/, "UnusedAttribute"},
    {~r/deprecated/, "Deprecated"}
  ]
  defp check_id(severity, message) do
    kind = Enum.find_value(@ids, fn {re, id} -> if Regex.match?(re, message), do: id end)
    "Compiler." <> (kind || if(severity == "error", do: "Error", else: "Warning"))
  end

  defp run_example(device, {expression, expected}) do
    result = isolated(device, @example_ms, fn -> elem(Code.eval_string(expression), 0) end)
    {passed, actual} =
      case result do
        {:ok, value} -> {matches?(device, value, expected), inspect(value, limit: 50, printable_limit: 200)}
        {:raised, e, _} when is_exception(e) -> {raised?(e, expected), "** (#{inspect(e.__struct__)}) #{Exception.message(e)}"}
        {:raised, other, _} -> {false, "** #{inspect(other, limit: 10)}"}
        {:stopped, why} -> {false, "stopped: " <> why}
      end
    %{expression: expression, expected: expected, actual: actual, passed: passed}
  end

  # The expected text is evaluated and compared with ===, as doctests do; forms that do not
  # evaluate (#MapSet<...>) are compared as printed.
  defp matches?(device, value, expected) do
    case isolated(device, @example_ms, fn -> elem(Code.eval_string(expected), 0) end) do
      {:ok, want} -> want === value
      _ -> inspect(value) == String.trim(expected)
    end
  end

  defp raised?(e, expected) do
    case Regex.run(~r/^\*\* \(([\w.]+)\)/, String.trim(expected)) do
      [_, name] -> inspect(e.__struct__) == name
      _ -> false
    end
  end

  @doc """
  Runs the synthesizer on a spec of lines `function NAME`, `params A,B` (optional),
  `budget MS`, `beyond N`, `word W...`, `constant SOURCE`, `option KEY SOURCE` (a keyword option
  and its default), `demand NAME` (a module or function the task says to use),
  `struct MODULE FIELDS` (the task's struct: `GridPoint x: 0, y: 0`), `example B64:B64`. The
  examples are calls of the function with literal arguments; their arguments and expected values
  are evaluated here, in the sandbox.
  """
  def synthesize(text) do
    lines = String.split(text, "\n", trim: true)
    field = fn key -> for l <- lines, [^key, v] <- [String.split(l, " ", parts: 2)], do: v end
    [name] = field.("function")
    budget = min(String.to_integer(hd(field.("budget") ++ ["2000"])), 10_000)
    modules_before = MapSet.new(for {m, _} <- :code.all_loaded(), do: m)
    {:ok, device} = StringIO.open("")
    {outcome, _warnings} =
      capture_stderr(fn ->
        # The search stops itself at three times its budget on a busy machine (see ECSynth.run).
        isolated(device, 3 * budget + 2_000, fn ->
          # The task's struct, defined here so that examples can write it (`%GridPoint{x: 1}`).
          Enum.each(field.("struct"), &define_struct/1)
          examples = Enum.flat_map(field.("example"), fn e -> with {:ok, pairs} <- decode_examples(e), do: pairs, else: (_ -> []) end)
          inputs = Enum.flat_map(examples, fn {call, expected} -> example_input(name, call, expected) end)
          params = case field.("params") do
            [p] -> String.split(p, ",")
            _ -> inputs |> List.first({[], nil}) |> elem(0) |> parameter_names()
          end
          constants = Enum.flat_map(field.("constant"), fn src -> [elem(Code.eval_string(src), 0)] end)
          inputs = Enum.filter(inputs, fn {args, _} -> length(args) == length(params) end)
          if inputs == [] do
            %{params: params, programs: [], informative: false}
          else
            spec = %{params: params, inputs: Enum.map(inputs, &elem(&1, 0)), expected: Enum.map(inputs, &elem(&1, 1)),
                     words: Enum.flat_map(field.("word"), &String.split/1), constants: constants, budget_ms: budget,
                     options: Enum.flat_map(field.("option"), &option/1), demands: field.("demand"),
                     beyond: min(String.to_integer(hd(field.("beyond") ++ ["1"])), 3)}
            %{params: params, programs: ECSynth.run(spec), informative: ECSynth.informative?(spec.inputs, spec.expected)}
          end
        end)
      end)
    cleanup(device, modules_before)
    case outcome do
      {:ok, reply} -> reply
      {:raised, e, _} -> %{error: "the synthesizer failed: " <> if(is_exception(e), do: Exception.message(e), else: inspect(e, limit: 5))}
      {:stopped, why} -> %{error: "the synthesizer stopped: " <> why}
    end
  end

  # `Module field: default, ...`: the module is defined with only that struct in it.
  defp define_struct(line) do
    with [module, fields] <- String.split(line, " ", parts: 2),
         true <- Regex.match?(~r/^[A-Z][\w.]*$/, module),
         # Never a module that exists: `Enum x: 0` must not replace Enum in the worker.
         false <- Code.ensure_loaded?(Module.concat([module])),
         {:ok, pairs} when is_list(pairs) <- Code.string_to_quoted("[" <> fields <> "]"),
         true <- data?(pairs) do
      Code.compile_string("defmodule #{module} do\n  defstruct #{fields}\nend\n")
    end
  end

  # `key SOURCE`: an option the task documents, with its default as an Elixir literal.
  defp option(line) do
    with [key, source] <- String.split(line, " ", parts: 2),
         true <- Regex.match?(~r/^[a-z_]\w*[?!]?$/, key),
         {:ok, ast} <- Code.string_to_quoted(source),
         {:ok, [value]} <- literal_values([ast]) do
      [{String.to_atom(key), value, source}]
    else
      _ -> []
    end
  end

  # The arguments and the expected value of an example that calls `name` with literals.
  defp example_input(name, call, expected) do
    with false <- String.starts_with?(String.trim(expected), "**"),
         {:ok, {callee, _, args}} when is_list(args) <- Code.string_to_quoted(call),
         true <- called_name(callee) == name,
         {:ok, values} <- literal_values(args),
         {:ok, want} <- literal_values([Code.string_to_quoted!(expected)]) do
      [{values, hd(want)}]
    else
      _ -> []
    end
  rescue
    _ -> []
  end

  defp called_name({:., _, [_, f]}) when is_atom(f), do: Atom.to_string(f)
  defp called_name(f) when is_atom(f), do: Atom.to_string(f)
  defp called_name(_), do: nil

  # Arguments must be data (no calls, no variables): they are evaluated without a module around them.
  defp literal_values(asts) do
    if Enum.all?(asts, &data?/1), do: {:ok, Enum.map(asts, &elem(Code.eval_quoted(&1), 0))}, else: :error
  end

  # Literals, negative numbers, structs, and binaries written byte by byte (`<<200, 100>>`,
  # `<<1::4>>`), also inside lists, tuples and maps.
  defp data?({:<<>>, _, segments}), do: Enum.all?(segments, &segment?/1)
  defp data?(list) when is_list(list), do: Enum.all?(list, &data?/1)
  defp data?({a, b}), do: data?(a) and data?(b)
  defp data?({:{}, _, items}), do: data?(items)
  defp data?({:%{}, _, pairs}), do: data?(pairs)
  defp data?({:%, _, [{:__aliases__, _, _}, {:%{}, _, pairs}]}), do: data?(pairs)
  # `-1` is a call of unary minus in the syntax tree.
  defp data?({:-, _, [n]}) when is_number(n), do: true
  defp data?(ast), do: Macro.quoted_literal?(ast)

  defp segment?({:"::", _, [value, size]}), do: segment?(value) and (is_integer(size) or match?({name, _, nil} when is_atom(name), size))
  defp segment?(value), do: is_integer(value) or is_binary(value)

  # Names for parameters the task did not name, from the examples' values.
  defp parameter_names(values) do
    values
    |> Enum.map(fn
      v when is_integer(v) -> "n"
      v when is_binary(v) -> "text"
      v when is_list(v) -> "list"
      v when is_map(v) -> "map"
      _ -> "value"
    end)
    |> then(fn names -> Enum.with_index(names, fn base, i -> if Enum.count(names, &(&1 == base)) > 1, do: "#{base}#{i + 1}", else: base end) end)
  end

  defp decode_examples(""), do: {:ok, []}
  defp decode_examples(text) do
    text
    |> String.split(",")
    |> Enum.reduce_while({:ok, []}, fn pair, {:ok, acc} ->
      with [a, b] <- String.split(pair, ":"), {:ok, e} <- Base.decode64(a), {:ok, x} <- Base.decode64(b) do
        {:cont, {:ok, acc ++ [{e, x}]}}
      else
        _ -> {:halt, :error}
      end
    end)
  end

  def loop do
    case IO.read(:stdio, :line) do
      :eof -> :ok
      line ->
        {id, reply} =
          case String.split(String.trim_trailing(line, "\n"), "\t") do
            [id, "compile", b64, examples] ->
              with {:ok, code} <- Base.decode64(b64), {:ok, pairs} <- decode_examples(examples) do
                try do
                  {id, handle(code, pairs)}
                rescue
                  e -> {id, %{error: "compile worker failed: " <> Exception.message(e)}}
                end
              else
                _ -> {id, %{error: "the request is not base64"}}
              end
            [id, "synth", b64 | _] ->
              case Base.decode64(b64) do
                {:ok, spec} -> {id, synthesize(spec)}
                :error -> {id, %{error: "the request is not base64"}}
              end
            [id | _] -> {id, %{error: "malformed request line"}}
          end
        IO.puts("EC\t#{id}\t" <> ECJson.encode(reply))
        loop()
    end
  end
end

ECCompile.os_baseline()
ECCompile.loop()
