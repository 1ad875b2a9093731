# ElixirCoder's checker: reads one request per line, answers one JSON line each.
# Request: "<id>\t<command>\t<base64 code>\t<file kind>"; commands: syntax, format, facts, rules, all.
# It only parses (Code.string_to_quoted / Code.format_string!); it never evaluates the code.
Code.require_file("json.exs", __DIR__)

defmodule ECLoader do
  @moduledoc false
  # Compiling the rule scripts costs about half a second of CPU on every checker start (a restart
  # after a crash or timeout included); their compiled modules are kept in the cache, in a folder
  # named by the scripts' hash, and loaded from there when it exists.
  def require(names, dir) do
    sources = Enum.map(names, &{&1, File.read!(Path.join(dir, &1))})
    key = :crypto.hash(:sha256, Enum.map(sources, &elem(&1, 1))) |> Base.encode16(case: :lower) |> binary_part(0, 16)
    home = System.get_env("ELIXIR_CODER_HOME") || Path.join(System.user_home!(), ".cache/elixir-coder")
    cache = Path.join([home, "checker-beams", key])
    unless load_cached(cache), do: compile_and_store(sources, dir, cache)
  end

  defp load_cached(cache) do
    with {:ok, order} <- File.read(Path.join(cache, "order")) do
      for name <- String.split(order, "\n", trim: true) do
        {:module, _} = :code.load_binary(String.to_atom(name), String.to_charlist(name), File.read!(Path.join(cache, name <> ".beam")))
      end
      true
    else
      _ -> false
    end
  rescue
    _ -> false
  end

  defp compile_and_store(sources, dir, cache) do
    modules = Enum.flat_map(sources, fn {name, _} -> Code.compile_file(Path.join(dir, name)) end)
    tmp = cache <> ".tmp-" <> Integer.to_string(System.unique_integer([:positive]))
    try do
      File.mkdir_p!(tmp)
      for {mod, bin} <- modules, do: File.write!(Path.join(tmp, Atom.to_string(mod) <> ".beam"), bin)
      File.write!(Path.join(tmp, "order"), Enum.map_join(modules, "\n", &Atom.to_string(elem(&1, 0))))
      # Another checker may have stored the same folder first; either copy is the same.
      with {:error, _} <- File.rename(tmp, cache), do: File.rm_rf(tmp)
    rescue
      _ -> File.rm_rf(tmp)
    end
  end
end

ECLoader.require(["credo_source.exs", "credo_rules.exs", "tool_config.exs", "sobelow_config_rules.exs", "sobelow_project_rules.exs"], __DIR__)

defmodule ECSyntax do
  def check(code) do
    case Code.string_to_quoted(code, columns: true, token_metadata: true) do
      {:ok, ast} -> {:ok, ast}
      {:error, {meta, msg, token}} ->
        message = if is_tuple(msg), do: elem(msg, 0) <> elem(msg, 1), else: msg
        text = message <> to_string(token)
        # A viable prefix fails only at the end of input: something still open ("missing
        # terminator"), or an expression cut short ("syntax error before: " with no token, or
        # an error at the very last column). "unexpected token: ). The do at line 4 is missing
        # terminator" is a hard error that merely mentions one.
        lines = String.split(code, "\n")
        at_end = Keyword.get(meta, :line, 1) >= length(lines) and
                   (Keyword.get(meta, :column) || 0) >= String.length(List.last(lines))
        incomplete = String.starts_with?(message, "missing terminator") or String.contains?(text, "unexpected end of") or
                       (message == "syntax error before: " and token == "") or at_end
        # Elixir puts the token between a tuple's prefix and suffix, and after a plain message.
        composed = if is_tuple(msg), do: elem(msg, 0) <> to_string(token) <> elem(msg, 1), else: msg <> to_string(token)
        {:error, %{line: Keyword.get(meta, :line, 1), column: Keyword.get(meta, :column), message: message,
                   token: to_string(token), composed: composed, verdict: if(incomplete, do: "incomplete", else: "invalid")}}
    end
  rescue
    e -> {:error, %{line: 1, column: nil, message: Exception.message(e), token: "", verdict: "invalid"}}
  end
end

defmodule ECFacts do
  @concurrency %{[:Task] => "Task", [:GenServer] => "GenServer", [:Agent] => "Agent", [:Supervisor] => "Supervisor", [:Registry] => "Registry"}
  @deps %{[:HTTPoison] => "http", [:Tesla] => "http", [:Req] => "http", [:Finch] => "http", [:Mint] => "http", [:Ecto] => "ecto",
          [:Repo] => "ecto", [:File] => "file", [:System] => "system", [:Path] => "file", [:Jason] => "json", [:Poison] => "json"}

  @structures %{[:Keyword] => "keyword_list", [:Map] => "map", [:MapSet] => "mapset", [:Tuple] => "tuple", [:List] => "list",
                 [:Queue] => "queue", [:ETS] => "ets"}

  def collect(ast) do
    init = %{modules: [], functions: [], aliases: [], imports: [], uses: [], remote_calls: [], error_handling: [],
             concurrency: [], data_structures: [], dependencies: []}
    {_, acc} = Macro.prewalk(ast, init, &visit/2)
    acc |> Enum.map(fn {k, v} -> {k, v |> Enum.uniq() |> Enum.sort()} end) |> Map.new()
  end

  defp add(acc, key, v), do: Map.update!(acc, key, &[v | &1])

  defp visit_node({:defmodule, _, [{:__aliases__, _, parts} | _]} = n, acc), do: {n, add(acc, :modules, alias_name(parts))}
  defp visit_node({kind, _, [head | _]} = n, acc) when kind in [:def, :defp] do
    {name, args} = fun_head(head)
    vis = if kind == :def, do: "public", else: "private"
    {n, if(name, do: add(acc, :functions, "#{name}/#{length(args)} #{vis}"), else: acc)}
  end
  defp visit_node({:alias, _, [{:__aliases__, _, p} | _]} = n, acc), do: {n, add(acc, :aliases, alias_name(p))}
  defp visit_node({:import, _, [{:__aliases__, _, p} | _]} = n, acc), do: {n, add(acc, :imports, alias_name(p))}
  defp visit_node({:use, _, [{:__aliases__, _, p} | _]} = n, acc) do
    acc = add(acc, :uses, alias_name(p))
    acc = if p in [[:GenServer], [:Agent], [:Supervisor]], do: add(acc, :concurrency, Enum.join(p, ".")), else: acc
    {n, acc}
  end
  defp visit_node({{:., _, [{:__aliases__, _, mod}, fun]}, _, args} = n, acc) when is_atom(fun) do
    name = alias_name(mod)
    acc = add(acc, :remote_calls, "#{name}.#{fun}/#{length(args)}")
    acc = case Map.get(@concurrency, Enum.take(mod, 1)) do
      nil -> acc
      c -> add(acc, :concurrency, c)
    end
    acc = case Map.get(@deps, Enum.take(mod, 1)) || Map.get(@deps, Enum.take(mod, -1)) do
      nil -> acc
      d -> add(acc, :dependencies, d)
    end
    acc = case Map.get(@structures, mod) do
      nil -> acc
      d -> add(acc, :data_structures, d)
    end
    {n, acc}
  end
  defp visit_node({{:., _, [erl, fun]}, _, args} = n, acc) when is_atom(erl) and is_atom(fun) do
    acc = add(acc, :remote_calls, ":#{erl}.#{fun}/#{length(args)}")
    acc = cond do
      erl == :ets -> add(acc, :data_structures, "ets")
      erl == :os -> add(acc, :dependencies, "os")
      true -> acc
    end
    {n, acc}
  end
  defp visit_node({call, _, _} = n, acc) when call in [:spawn, :spawn_link, :spawn_monitor, :send, :receive],
    do: {n, add(acc, :concurrency, Atom.to_string(call))}
  defp visit_node({:raise, _, _} = n, acc), do: {n, add(acc, :error_handling, "raise")}
  defp visit_node({:try, _, _} = n, acc), do: {n, add(acc, :error_handling, "try_rescue")}
  defp visit_node({:with, _, _} = n, acc), do: {n, add(acc, :error_handling, "with")}
  defp visit_node({:ok, _} = n, acc), do: {n, add(acc, :error_handling, "tagged_tuples")}
  defp visit_node({:error, _} = n, acc), do: {n, add(acc, :error_handling, "tagged_tuples")}
  defp visit_node({:%{}, _, _} = n, acc), do: {n, add(acc, :data_structures, "map")}
  defp visit_node({:%, _, _} = n, acc), do: {n, add(acc, :data_structures, "struct")}
  defp visit_node({:{}, _, _} = n, acc), do: {n, add(acc, :data_structures, "tuple")}
  defp visit_node({:defstruct, _, _} = n, acc), do: {n, add(acc, :data_structures, "struct")}
  defp visit_node(n, acc), do: {n, acc}

  # Lists in the AST are also argument lists; only lists that are arguments of a call are literals.
  defp visit(n, acc) do
    {n, acc} = visit_node(n, acc)
    case n do
      {_, _, args} when is_list(args) -> {n, Enum.reduce(args, acc, &literal_list/2)}
      _ -> {n, acc}
    end
  end

  @block_keys [:do, :else, :after, :rescue, :catch]
  defp literal_list(l, acc) when is_list(l) do
    cond do
      l != [] and Keyword.keyword?(l) and Enum.all?(Keyword.keys(l), &(&1 in @block_keys)) -> acc
      l != [] and Keyword.keyword?(l) -> add(acc, :data_structures, "keyword_list")
      true -> add(acc, :data_structures, "list")
    end
  end
  defp literal_list(_, acc), do: acc

  # `__MODULE__.Sub` and `mod.Sub` are aliases whose first part is an expression, not an atom.
  def alias_name(parts) when is_list(parts) do
    if Enum.all?(parts, &is_atom/1), do: Enum.join(parts, "."), else: Macro.to_string({:__aliases__, [], parts})
  end
  def alias_name(other), do: Macro.to_string(other)

  def fun_head({:when, _, [head | _]}), do: fun_head(head)
  def fun_head({name, _, args}) when is_atom(name), do: {name, if(is_list(args), do: args, else: [])}
  def fun_head(_), do: {nil, []}
end

defmodule ECRules do
  @moduledoc false
  @file_funs ~w(read read! write write! rm rm! rm_rf open open! chmod chmod! chown chown! mkdir mkdir! mkdir_p mkdir_p! cp copy cp! copy! cp_r cp_r! ln ln! ln_s ln_s!)a

  def run(code, ast, kind) do
    lines = String.split(code, "\n")
    controller = controller?(ast)
    ctx = %{module: nil, fun: nil, depth: 0, controller: controller, config: kind == "config", lines: lines}
    # Every rule is guarded on its own (see guard/3); these outer guards only catch a traversal itself failing.
    [{"AST rules", fn -> walk(ast, ctx) end},
     {"Misc.ModuleBodySideEffect", fn -> module_body(ast, ctx) end}]
    |> Enum.flat_map(fn {name, fun} -> guard(name, 1, fun) end)
    |> dedupe()
    |> Enum.sort_by(&{&1.line, &1.check})
    |> with_snippets(List.to_tuple(lines))
  end

  # Each finding's line, looked up in a tuple: `Enum.at` on the list made a 1 MB file with
  # thousands of findings quadratic (it timed out).
  defp with_snippets(findings, lines) do
    Enum.map(findings, fn f ->
      text = if f.line in 1..tuple_size(lines)//1, do: elem(lines, f.line - 1), else: ""
      Map.put(f, :snippet, String.trim(text))
    end)
  end

  # One finding per check, line (and variable: a render passes several assigns to raw); one RuleFailed per
  # failing rule (a rule that fails on every node says so once).
  def dedupe(findings),
    do: Enum.uniq_by(findings, fn f -> if f.check == "ElixirCoder.RuleFailed", do: {f.check, f.rule}, else: {f.check, f.line, Map.get(f, :variable)} end)

  # Runs one rule (on one node). An exception on odd but parseable code becomes that rule's
  # RuleFailed finding, so the other rules, and this rule on other nodes, still report.
  def guard(name, line, fun) do
    List.wrap(fun.())
  rescue
    e -> [failed(name, line, Exception.message(e))]
  catch
    kind, value -> [failed(name, line, "#{kind}: #{inspect(value, limit: 5)}")]
  end

  def failed(name, line, why),
    do: %{source: "builtin", check: "ElixirCoder.RuleFailed", rule: name, category: "internal", line: line, column: nil, builtin: true, snippet: "",
          message: "the built-in #{name} check failed on this code (#{String.slice(why, 0, 160)}), so it cannot be called clean"}

  defp rules(meta, named), do: Enum.flat_map(named, fn {name, fun} -> guard(name, line(meta), fun) end)

  # --- finding constructors ---
  # `at` is the call's metadata (Sobelow reports the called function's column) or a bare line.
  defp sobelow(type, rule, cwe, at, msg, ctx, conf \\ nil) do
    {l, c} = if is_list(at), do: {line(at), col(at)}, else: {at, nil}
    %{source: "sobelow", check: type, rule_id: rule, cwe: cwe, category: "security", line: l, column: c, message: msg,
      confidence: conf || if(ctx.controller, do: "high", else: "low"), builtin: true}
  end

  defp line(meta) when is_list(meta), do: Keyword.get(meta, :line, 1)
  defp line(_), do: 1
  defp col(meta), do: Keyword.get(meta, :column)

  # --- the AST walk with context ---
  defp walk({:defmodule, _meta, [{:__aliases__, _, parts}, [do: body]]}, ctx),
    do: walk(body, %{ctx | module: ECFacts.alias_name(parts)})

  defp walk({kind, _meta, [head | rest]}, ctx) when kind in [:def, :defp] do
    {name, _args} = ECFacts.fun_head(head)
    body = case rest do
      [[do: b] | _] -> b
      [kw | _] when is_list(kw) -> Keyword.get(kw, :do)
      _ -> nil
    end
    walk(body, %{ctx | fun: to_string(name), depth: 0}) ++ walk(head, ctx)
  end

  defp walk({{:., meta, [mod, fun]}, cmeta, args} = node, ctx) do
    own = remote(mod, fun, if(is_list(args), do: args, else: []), meta, cmeta, ctx)
    own ++ walk_children(node, ctx)
  end

  defp walk({:config, meta, args} = node, %{config: true} = ctx) when is_list(args) do
    secrets = rules(meta, [
      {"Config.Secrets", fn ->
        for kw <- args, is_list(kw), {key, val} <- kw, is_atom(key), is_binary(val), secret_key?(key) do
          # Sobelow reports config findings at column 0.
          sobelow("Config.Secrets", "SBLW010", "CWE-798", [line: find_key_line(ctx.lines, key, line(meta)), column: 0], "Hardcoded Secret", ctx, "high")
        end
      end}])
    secrets ++ walk_children(node, ctx)
  end

  defp walk({_, _, _} = node, ctx), do: walk_children(node, ctx)
  defp walk(list, ctx) when is_list(list), do: Enum.flat_map(list, &walk(&1, ctx))
  defp walk({a, b}, ctx), do: walk(a, ctx) ++ walk(b, ctx)
  defp walk(_, _), do: []

  defp walk_children({_, _, args}, ctx) when is_list(args), do: Enum.flat_map(args, &walk(&1, ctx))
  defp walk_children({a, _, _}, ctx) when is_tuple(a), do: walk(a, ctx)
  defp walk_children(_, _), do: []

  # --- remote calls: unsafe operations ---
  defp remote({:__aliases__, _, mod}, fun, args, _meta, cmeta, ctx) when is_list(mod) do
    m = ECFacts.alias_name(mod)
    nonlit = Enum.any?(Enum.take(args, 1), &(not literal?(&1)))
    rules(cmeta, [
      {"DOS.StringToAtom", fn ->
        if(m == "String" and fun == :to_atom and (args == [] or nonlit), do: sobelow("DOS.StringToAtom", "SBLW013", "CWE-400", cmeta, "Unsafe `String.to_atom`", ctx))
      end},
      {"DOS.ListToAtom", fn ->
        if(m == "List" and fun == :to_atom and (args == [] or nonlit), do: sobelow("DOS.ListToAtom", "SBLW012", "CWE-400", cmeta, "Unsafe `List.to_atom`", ctx))
      end},
      {"RCE.CodeModule", fn ->
        if(m == "Code" and fun in [:eval_string, :eval_file, :eval_quoted], do: sobelow("RCE.CodeModule", "SBLW015", "CWE-94", cmeta, "Code execution in eval function", ctx))
      end},
      {"RCE.EEx", fn ->
        if(m == "EEx" and fun in [:eval_string, :eval_file], do: sobelow("RCE.EEx", "SBLW016", "CWE-94", cmeta, "Code Execution in EEx template eval", ctx))
      end},
      {"CI.System", fn ->
        if(m == "System" and fun == :cmd and nonlit, do: sobelow("CI.System", "SBLW002", "CWE-78", cmeta, "Command Injection in `System.cmd`", ctx))
      end},
      {"Traversal.FileModule", fn ->
        if(m == "File" and fun in @file_funs and nonlit,
          do: sobelow("Traversal.FileModule", "SBLW019", "CWE-22", cmeta, "Directory Traversal in `File` function", ctx))
      end},
      {"SQL.Query", fn ->
        if(fun in [:query, :query!] and (m == "Ecto.Adapters.SQL" or String.ends_with?(m, "Repo")) and Enum.any?(args, &interpolated?/1),
          do: sobelow("SQL.Query", "SBLW017", "CWE-89", cmeta, "SQL injection", ctx))
      end},
      {"SQL.Stream", fn ->
        if(fun == :stream and m == "Ecto.Adapters.SQL" and Enum.any?(args, &interpolated?/1), do: sobelow("SQL.Stream", "SBLW018", "CWE-89", cmeta, "SQL injection", ctx))
      end}])
  end

  defp remote(erl, fun, args, _meta, cmeta, ctx) when is_atom(erl) do
    nonlit = Enum.any?(Enum.take(args, 1), &(not literal?(&1)))
    rules(cmeta, [
      {"Misc.BinToTerm", fn ->
        if(erl == :erlang and fun == :binary_to_term, do: sobelow("Misc.BinToTerm", "SBLW014", "CWE-502", cmeta, "Unsafe `binary_to_term`", ctx, "high"))
      end},
      {"CI.OS", fn -> if(erl == :os and fun == :cmd and nonlit, do: sobelow("CI.OS", "SBLW001", "CWE-78", cmeta, "Command Injection in `:os.cmd`", ctx)) end}])
  end

  defp remote(_, _, _, _, _, _), do: []

  # Local calls Sobelow knows from Phoenix controllers.
  def local_calls(ast, ctx) do
    {_, acc} = Macro.prewalk(ast, [], fn n, acc -> {n, local(n, ctx) ++ acc} end)
    Enum.reverse(acc)
  end

  # Called directly or at the end of a pipe: send_resp's body is the last argument.
  defp local({:send_resp, meta, args}, ctx) when is_list(args) and length(args) in [2, 3],
    do: rules(meta, [{"XSS.SendResp", fn -> unless literal?(List.last(args)), do: sobelow("XSS.SendResp", "SBLW031", "CWE-79", meta, "XSS in `send_resp`", ctx, "high") end}])
  defp local({:send_download, meta, [_, arg | _]}, ctx),
    do: rules(meta, [{"Traversal.SendDownload", fn -> unless literal?(arg), do: sobelow("Traversal.SendDownload", "SBLW020", "CWE-22", meta, "Directory Traversal in `send_download`", ctx) end}])
  defp local({:send_file, meta, [_, _, path | _]}, ctx),
    do: rules(meta, [{"Traversal.SendFile", fn -> unless literal?(path), do: sobelow("Traversal.SendFile", "SBLW021", "CWE-22", meta, "Directory Traversal in `send_file`", ctx) end}])
  defp local({:html, meta, [_, body]}, ctx),
    do: rules(meta, [{"XSS.HTML", fn -> unless literal?(body), do: sobelow("XSS.HTML", "SBLW029", "CWE-79", meta, "XSS in `html`", ctx) end}])
  defp local({:raw, meta, [arg]}, ctx),
    do: rules(meta, [{"XSS.Raw", fn -> unless literal?(arg), do: sobelow("XSS.Raw", "SBLW030", "CWE-79", meta, "XSS", ctx) end}])
  defp local({{:., _, [:erlang, :binary_to_atom]}, meta, _}, ctx),
    do: rules(meta, [{"DOS.BinToAtom", fn -> sobelow("DOS.BinToAtom", "SBLW011", "CWE-400", meta, "Unsafe atom interpolation", ctx) end}])
  defp local(_, _), do: []

  # --- Misc.ModuleBodySideEffect: calls in a module body run when the module compiles ---
  # Compiling runs a module's body (attribute values and unquote fragments included) on whatever machine
  # compiles it: a developer's, CI, every project that depends on it. CWE-829 (inclusion of functionality
  # from an untrusted control sphere): compiling the code pulls its commands, fetches and file changes into
  # every build. No rule id: the SBLW numbers are Sobelow's own and it has no such rule.
  # Reads are "low", and not reported in attribute values or in a module that declares @external_resource:
  # `@external_resource path` with `@x File.read!(path)` is Elixir's own idiom for compile-time data.
  @file_reads ~w(read read! stream! ls ls! exists? dir? regular? stat stat! lstat lstat! read_link read_link!)a
  @file_effects ~w(write write! rm rm! rm_rf rm_rf! rmdir rmdir! mkdir mkdir! mkdir_p mkdir_p! cp cp! cp_r cp_r! copy copy! ln ln! ln_s ln_s!
                   rename rename! touch touch! chmod chmod! chown chown! chgrp chgrp! write_stat write_stat! cd cd! open open!)a
  @system_effects ~w(cmd shell halt stop restart put_env delete_env)a
  @spawns ~w(spawn spawn_link spawn_monitor)a
  @net_aliases [[:HTTPoison], [:Req], [:Finch], [:Tesla], [:Mint, :HTTP], [:Mint, :HTTP1], [:Mint, :HTTP2]]
  @net_erlang ~w(gen_tcp gen_udp gen_sctp httpc ssl hackney ftp ssh socket)a
  # Function bodies run when called: only their unquote fragments run at compile time (quote's too).
  @deferred ~w(def defp defguard defguardp defn defnp quote)a
  # Run at macro expansion or test time, never while this module compiles; type attributes never run.
  @not_compile_time ~w(defmacro defmacrop test setup setup_all)a
  @type_attrs ~w(spec type typep opaque callback macrocallback)a
  # Plug.Router's routes take a do-block that becomes a function.
  @routes ~w(get post put patch delete options head match)a

  defp module_body(ast, ctx), do: outside(ast, ctx)

  defp outside({kind, _, args} = node, ctx) when kind in [:defmodule, :defimpl, :defprotocol] do
    case do_block(args) do
      {:ok, body} -> top(body, %{ctx: ctx, attr: nil, in_fn: false, resources: external_resource?(body)})
      :error -> outside_children(node, ctx)
    end
  end
  defp outside({_, _, _} = node, ctx), do: outside_children(node, ctx)
  defp outside(list, ctx) when is_list(list), do: Enum.flat_map(list, &outside(&1, ctx))
  defp outside({a, b}, ctx), do: outside(a, ctx) ++ outside(b, ctx)
  defp outside(_, _), do: []

  defp outside_children({a, _, args}, ctx), do: outside(a, ctx) ++ if(is_list(args), do: outside(args, ctx), else: [])

  defp top({kind, _, _} = node, st) when kind in [:defmodule, :defimpl, :defprotocol], do: outside(node, st.ctx)
  defp top({:@, _, [{name, _, [value]}]}, st) when is_atom(name),
    do: if(name in @type_attrs, do: [], else: top(value, %{st | attr: name}))
  defp top({kind, _, _}, _) when kind in @not_compile_time, do: []
  defp top({kind, _, args}, st) when kind in @deferred and is_list(args), do: unquotes(args, st)
  defp top({kind, _, args} = node, st) when kind in @routes and is_list(args) do
    if match?({:ok, _}, do_block(args)), do: [], else: top_children(node, st)
  end
  defp top({:fn, _, clauses}, st), do: top(clauses, %{st | in_fn: true})
  defp top({{:., dmeta, [mod, fun]}, meta, args} = node, st) when is_atom(fun) and is_list(args) do
    own =
      case mod do
        {:__aliases__, ameta, parts} -> side_effect(effect_kind(parts, fun), ECFacts.alias_name(parts) <> ".#{fun}", meta, col(ameta), st)
        erl when is_atom(erl) -> side_effect(effect_kind(erl, fun), inspect(erl) <> ".#{fun}", meta, erlang_col(dmeta, erl), st)
        _ -> nil
      end
    List.wrap(own) ++ top_children(node, st)
  end
  defp top({fun, meta, args} = node, st) when fun in @spawns and is_list(args),
    do: List.wrap(side_effect(:effect, "#{fun}", meta, col(meta), st)) ++ top_children(node, st)
  defp top({_, _, _} = node, st), do: top_children(node, st)
  defp top(list, st) when is_list(list), do: Enum.flat_map(list, &top(&1, st))
  defp top({a, b}, st), do: top(a, st) ++ top(b, st)
  defp top(_, _), do: []

  defp top_children({a, _, args}, st), do: top(a, st) ++ if(is_list(args), do: top(args, st), else: [])

  defp unquotes({u, _, [arg]}, st) when u in [:unquote, :unquote_splicing], do: top(arg, st)
  defp unquotes({:quote, _, _}, _), do: []
  defp unquotes({a, _, args}, st), do: unquotes(a, st) ++ if(is_list(args), do: unquotes(args, st), else: [])
  defp unquotes(list, st) when is_list(list), do: Enum.flat_map(list, &unquotes(&1, st))
  defp unquotes({a, b}, st), do: unquotes(a, st) ++ unquotes(b, st)
  defp unquotes(_, _), do: []

  defp effect_kind([:File], fun) when fun in @file_reads, do: :read
  defp effect_kind([:File], fun) when fun in @file_effects, do: :effect
  defp effect_kind([:System], fun) when fun in @system_effects, do: :effect
  defp effect_kind([:Port], :open), do: :effect
  defp effect_kind([m], fun) when m in [:Kernel, :Process, :Node] and fun in @spawns, do: :effect
  defp effect_kind([:Task], fun) when fun in [:async, :start, :start_link], do: :effect
  defp effect_kind(parts, _) when parts in @net_aliases, do: :effect
  defp effect_kind(:file, fun) when fun in [:read_file, :list_dir, :consult, :read_file_info], do: :read
  defp effect_kind(:file, fun) when fun in [:write_file, :delete, :del_dir, :del_dir_r, :make_dir, :rename, :open, :copy], do: :effect
  defp effect_kind(:os, fun) when fun in [:cmd, :putenv, :unsetenv], do: :effect
  defp effect_kind(:erlang, fun) when fun in [:open_port, :halt | @spawns], do: :effect
  defp effect_kind(erl, _) when erl in @net_erlang, do: :effect
  defp effect_kind(_, _), do: nil

  defp side_effect(nil, _, _, _, _), do: nil
  defp side_effect(:read, _, _, _, %{attr: attr, resources: res}) when attr != nil or res, do: nil
  defp side_effect(kind, call, meta, column, st) do
    conf = cond do
      kind == :read -> "low"
      # A fn may be stored and called later (at run time) rather than called while compiling.
      st.in_fn -> "medium"
      true -> "high"
    end
    where = if st.attr, do: "in the value of @#{st.attr}", else: "in the module body"
    sobelow("Misc.ModuleBodySideEffect", nil, "CWE-829", line(meta), "`#{call}` #{where} runs when the module compiles", st.ctx, conf)
    |> Map.put(:column, column)
  end

  # Erlang module calls carry the dot's column; the call starts at the `:`.
  defp erlang_col(meta, erl) do
    case col(meta) do
      c when is_integer(c) -> max(1, c - String.length(inspect(erl)))
      _ -> nil
    end
  end

  defp do_block(args) when is_list(args) and args != [] do
    last = List.last(args)
    if is_list(last) and Keyword.keyword?(last), do: Keyword.fetch(last, :do), else: :error
  end
  defp do_block(_), do: :error

  defp external_resource?(body) do
    {_, found} = Macro.prewalk(body, false, fn
      {:@, _, [{:external_resource, _, _}]} = n, _ -> {n, true}
      n, acc -> {n, acc}
    end)
    found
  end

  # --- helpers ---
  defp literal?(x) when is_binary(x) or is_number(x) or is_atom(x), do: true
  defp literal?(list) when is_list(list), do: Enum.all?(list, &literal?/1)
  defp literal?({:<<>>, _, parts}), do: Enum.all?(parts, &is_binary/1)
  defp literal?({:__block__, _, [x]}), do: literal?(x)
  defp literal?({:{}, _, parts}), do: Enum.all?(parts, &literal?/1)
  defp literal?({a, b}), do: literal?(a) and literal?(b)
  defp literal?(_), do: false

  defp interpolated?({:<<>>, _, parts}), do: Enum.any?(parts, &(not is_binary(&1)))
  defp interpolated?(_), do: false

  defp secret_key?(key) do
    k = Atom.to_string(key)
    Enum.any?(["secret", "password", "secret_key_base", "api_key", "private_key"], &String.contains?(k, &1))
  end

  # Keyword pairs carry no line; the key's own line is the first one at or after the call that names it.
  defp find_key_line(lines, key, from) do
    needle = Atom.to_string(key) <> ":"
    lines
    |> Enum.with_index(1)
    |> Enum.find_value(from, fn {text, n} -> if n >= from and String.contains?(text, needle), do: n end)
  end

  defp controller?(ast) do
    {_, found} = Macro.prewalk(ast, false, fn
      {:use, _, [_, :controller]} = n, _ -> {n, true}
      n, acc -> {n, acc}
    end)
    found
  end
end

defmodule ECClose do
  @moduledoc false
  # Closes a program that was cut off while constructs were open: append the terminators
  # the parser asks for; when that does not parse (the last line is cut mid-expression),
  # drop the last line and try again.
  def close(code), do: close(String.trim_trailing(code), 40)

  defp close(_code, 0), do: nil
  defp close(code, budget) do
    closed = ECViable.append_terminators(code, 40)
    case Code.string_to_quoted(closed) do
      {:ok, _} -> closed <> "\n"
      _ ->
        case String.split(code, "\n") do
          [_] -> nil
          lines -> close(lines |> Enum.drop(-1) |> Enum.join("\n") |> String.trim_trailing(), budget - 1)
        end
    end
  end
end

defmodule ECViable do
  @moduledoc false
  # Elixir's tokenizer reports an open block ("missing terminator") before any parse error
  # inside it, so a prefix with an open `do` always looks merely incomplete. Close it first
  # (append the terminators it asks for), then parse: an error inside the original text is
  # dead; an error at or after its end is just a cut-off expression.
  def verdict(code) do
    closed = append_terminators(code, 40)
    case Code.string_to_quoted(closed, columns: true) do
      {:ok, _} -> "ok"
      {:error, {meta, msg, _}} ->
        lines = String.split(code, "\n")
        l = Keyword.get(meta, :line, 1)
        c = Keyword.get(meta, :column) || 0
        inside = l < length(lines) or (l == length(lines) and c <= String.length(List.last(lines)))
        message = if is_tuple(msg), do: elem(msg, 0) <> elem(msg, 1), else: msg
        cut = message == "syntax error before: " or String.starts_with?(message, "missing terminator")
        if inside and not (cut and l == length(lines)), do: "invalid", else: "incomplete"
    end
  end

  def append_terminators(code, 0), do: code
  def append_terminators(code, n) do
    case Code.string_to_quoted(code) do
      {:error, {_, msg, _}} when is_binary(msg) ->
        case Regex.run(~r/^missing terminator: (\S+)/, msg) do
          [_, "end"] -> append_terminators(code <> "\nend", n - 1)
          [_, term] -> append_terminators(code <> term, n - 1)
          nil -> code
        end
      _ -> code
    end
  end
end

defmodule ECSobelowFilter do
  @moduledoc false
  # Sobelow's own suppression: types ignored in .sobelow-conf (a prefix like "Config" ignores them all),
  # ignored files, the confidence threshold, and, with skip on, `@sobelow_skip [...]` (or a
  # `# sobelow_skip [...]` comment) before a function silencing those types inside it.
  @rank %{"high" => 3, "medium" => 2, "low" => 1}

  def apply(findings, ast, code, config, path) do
    skips = if config.skip, do: skips(ast, code), else: []
    ignored_file = path != nil and Enum.any?(config.ignore_files, &(String.ends_with?(path, &1) or String.ends_with?(&1, path)))
    Enum.reject(findings, fn f ->
      Map.get(f, :source) == "sobelow" and Map.get(f, :rule_id) != nil and
        (ignored_file or Enum.any?(config.ignore, &(f.check == &1 or String.starts_with?(f.check, &1 <> "."))) or
           Map.get(@rank, f[:confidence], 1) < Map.get(@rank, config.threshold, 1) or
           Enum.any?(skips, fn {from, to, types} -> f.line in from..to and (types == [] or f.check in types) end))
    end)
  end

  # {first line, last line, types} of every function preceded by a skip.
  defp skips(ast, code) do
    comments = code |> String.split("\n") |> Enum.with_index(1)
               |> Enum.flat_map(fn {l, n} -> if String.match?(l, ~r/^\s*#\s*sobelow_skip/), do: [{n, types_in(l)}], else: [] end)
    {_, {_, acc}} = Macro.prewalk(ast, {nil, []}, fn
      {:@, _, [{:sobelow_skip, _, [types]}]} = n, {_, acc} when is_list(types) -> {n, {Enum.filter(types, &is_binary/1), acc}}
      {op, meta, _} = n, {pending, acc} when op in [:def, :defp] ->
        first = Keyword.get(meta, :line, 1)
        last = get_in(meta, [:end, :line]) || first
        comment = Enum.find_value(comments, fn {l, t} -> if l == first - 1, do: t end)
        case pending || comment do
          nil -> {n, {nil, acc}}
          types -> {n, {nil, [{first, last, types} | acc]}}
        end
      n, st -> {n, st}
    end)
    acc
  end

  defp types_in(line), do: Regex.scan(~r/"([^"]+)"/, line) |> Enum.map(&Enum.at(&1, 1))
end

defmodule ECServer do
  def handle("close", code, _kind, _opts), do: %{syntax: %{status: "ok"}, closed: ECClose.close(code)}
  def handle("viable", code, _kind, _opts), do: %{syntax: %{status: ECViable.verdict(code)}}
  # The built-in rules on a prefix: closed first, so a cut-off program can be checked.
  def handle("prefixrules", code, kind, opts) do
    case ECClose.close(code) do
      nil -> %{syntax: %{status: "incomplete"}, findings: []}
      closed -> handle("rules", closed, kind, opts)
    end
  end

  def handle(cmd, code, kind, opts) do
    syntax = ECSyntax.check(code)
    base = case syntax do
      {:ok, _} -> %{syntax: %{status: "ok"}}
      {:error, e} -> %{syntax: Map.put(e, :status, e.verdict)}
    end
    base = if cmd in ["format", "all"], do: Map.put(base, :format, format(code)), else: base
    case syntax do
      {:ok, ast} ->
        base =
          if cmd in ["facts", "all"] do
            case safely("facts", fn -> ECFacts.collect(ast) end) do
              {:ok, facts} -> Map.put(base, :facts, facts)
              {:failed, _} -> base
            end
          else
            base
          end
        if cmd in ["rules", "all"] do
          ctx = %{module: nil, fun: nil, depth: 0, controller: false, config: kind == "config"}
          credo_config = ECToolConfig.credo(opts["credo"], opts["path"], kind)
          # WrongTestFilename reads the file's name: relative to .credo.exs's folder, else as given.
          credo_config = Map.put(credo_config, :path, opts["path"] || opts["file"])
          sobelow_config = ECToolConfig.sobelow(opts["sobelow"])
          sobelow_config = if opts["skip"] == "1", do: %{sobelow_config | skip: true}, else: sobelow_config
          guard = fn name, fun -> ECRules.guard(name, 1, fun) end
          # Each rule is guarded in ECRules.guard/3; these guards are the last net, for a whole rule set failing.
          findings =
            [{"rules", fn -> ECRules.run(code, ast, kind) end},
             {"credo", fn -> if credo_config.included, do: ECCredo.run(code, ast, credo_config, guard), else: [] end},
             {"Sobelow configuration rules", fn -> ECSobelowConfig.run(ast, opts["file"], controller?(ast)) end},
             {"Sobelow project rules", fn -> ECSobelowProject.run(ast, opts["file"], controller?(ast)) end},
             {"local calls", fn -> ECRules.local_calls(ast, %{ctx | controller: controller?(ast)}) |> Enum.map(&Map.put(&1, :snippet, "")) end},
             {"atom interpolation", fn -> bin_atoms(ast, ctx) end}]
            |> Enum.flat_map(fn {name, fun} ->
              case safely(name, fun) do
                {:ok, found} -> found
                {:failed, finding} -> [finding]
              end
            end)
          findings = ECSobelowFilter.apply(findings, ast, code, sobelow_config, opts["path"])
          # Credo without --strict hides issues below priority 0 (its low checks); no option: every finding.
          strict = opts["strict"] != "0" or credo_config.strict == true
          findings = if strict, do: findings, else: Enum.reject(findings, &(&1[:source] == "credo" and (&1[:priority] || 0) < 0))
          base
          |> Map.put(:findings, Enum.sort_by(ECRules.dedupe(findings), &{&1.line, &1.check}))
          |> Map.put(:notes, credo_config.notes ++ sobelow_config.notes)
        else
          base
        end
      _ -> base
    end
  end

  defp safely(name, fun) do
    {:ok, fun.()}
  rescue
    e -> {:failed, ECRules.failed(name, 1, Exception.message(e))}
  catch
    kind, value -> {:failed, ECRules.failed(name, 1, "#{kind}: #{inspect(value, limit: 5)}")}
  end

  defp controller?(ast) do
    {_, found} = Macro.prewalk(ast, false, fn
      {:use, _, [_, :controller]} = n, _ -> {n, true}
      n, acc -> {n, acc}
    end)
    found
  end

  # :"event_#{name}" parses to a binary_to_atom call on an interpolated binary.
  defp bin_atoms(ast, ctx) do
    {_, acc} = Macro.prewalk(ast, [], fn
      {{:., _, [:erlang, :binary_to_atom]}, meta, [{:<<>>, _, parts}, :utf8]} = n, acc ->
        if Enum.all?(parts, &is_binary/1), do: {n, acc},
          else: {n, [%{source: "sobelow", check: "DOS.BinToAtom", rule_id: "SBLW011", cwe: "CWE-400", category: "security",
                       line: Keyword.get(meta, :line, 1), column: Keyword.get(meta, :column), message: "Unsafe atom interpolation",
                       confidence: if(controller?(ast), do: "high", else: "low"), builtin: true, snippet: ""} | acc]}
      n, acc -> {n, acc}
    end)
    _ = ctx
    acc
  end

  defp format(code) do
    formatted = IO.iodata_to_binary([Code.format_string!(code), "\n"])
    %{changed: formatted != code, formatted: formatted}
  rescue
    e -> %{changed: false, formatted: nil, error: Exception.message(e)}
  end

  # The argument: the file kind, then `;key=base64` options (credo and sobelow config text, the path, skip).
  defp options(argument) do
    [kind | pairs] = String.split(argument, ";")
    opts = for pair <- pairs, [k, v] <- [String.split(pair, "=", parts: 2)], {:ok, d} <- [Base.decode64(v)], into: %{}, do: {k, d}
    {kind, opts}
  end

  def loop do
    case IO.read(:stdio, :line) do
      :eof -> :ok
      line ->
        reply =
          case String.split(String.trim_trailing(line, "\n"), "\t") do
            [id, cmd, b64, argument] ->
              {kind, opts} = options(argument)
              case Base.decode64(b64) do
                {:ok, code} ->
                  try do
                    Map.put(handle(cmd, code, kind, opts), :id, id)
                  rescue
                    e -> %{id: id, error: "checker failed: " <> Exception.message(e)}
                  end
                :error -> %{id: id, error: "request code is not base64"}
              end
            _ -> %{id: nil, error: "malformed request line"}
          end
        IO.puts(ECJson.encode(reply))
        loop()
    end
  end
end

ECServer.loop()
