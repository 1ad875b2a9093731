# Text helpers the Credo rules share: literal blanking, tokens, Credo's trigger columns and scope priorities.
# Everything here reads the code as text or tokens; nothing is evaluated.
defmodule ECCredoSource do
  @moduledoc false

  # Replaces the insides of strings, charlists, sigils and heredocs (and, when asked, comments):
  # `:spaces` keeps every column where it was, `:empty` drops the insides as Credo's own
  # cleaner does for the spacing consistency checks, `{:fill, c}` puts `c` in every place,
  # empty lines included (so a blank line or trailing space inside a string is not one). Delimiters stay.
  def clean(code, mode \\ :spaces, comments \\ :keep),
    do: code |> scan(mode, comments, []) |> IO.iodata_to_binary()

  # Plain code is copied a chunk at a time, up to the next character that may open a literal or a comment.
  defp scan(bin, m, cm, acc) do
    case :binary.match(bin, ["\"", "'", "#", "~", "?"]) do
      :nomatch -> Enum.reverse([bin | acc])
      {0, _} -> special(bin, m, cm, acc)
      {pos, _} ->
        <<plain::binary-size(pos), rest::binary>> = bin
        special(rest, m, cm, [plain | acc])
    end
  end

  defp special(<<"?", c::utf8, rest::binary>>, m, cm, acc) when c in [?", ?', ?#, ?\\, ?(, ?), ?[, ?], ?{, ?}] do
    case {c, rest} do
      {?\\, <<e::utf8, rest2::binary>>} -> scan(rest2, m, cm, [<<"?\\", e::utf8>> | acc])
      _ -> scan(rest, m, cm, [<<"?", c::utf8>> | acc])
    end
  end
  defp special(<<q::binary-size(3), rest::binary>>, m, cm, acc) when q in [~s("""), ~s(''')] do
    {body, rest} = until_triple(rest, q, [])
    scan(rest, m, cm, [q, blank(body, m), q | acc])
  end
  defp special(<<"~", s::utf8, rest::binary>>, m, cm, acc) when s in ?a..?z or s in ?A..?Z do
    {name, rest} = sigil_name(rest, <<s::utf8>>)
    case rest do
      <<q::binary-size(3), rest2::binary>> when q in [~s("""), ~s(''')] ->
        {body, rest3} = until_triple(rest2, q, [])
        {mods, rest4} = modifiers(rest3, "")
        scan(rest4, m, cm, [mods, q, blank(body, m), q, "~" <> name | acc])
      <<open::utf8, rest2::binary>> when open in [?(, ?[, ?{, ?<, ?/, ?|, ?", ?'] ->
        {body, rest3} = until_close(rest2, open, close_of(open), 0, [])
        {mods, rest4} = modifiers(rest3, "")
        scan(rest4, m, cm, [mods, <<close_of(open)::utf8>>, blank(body, m), <<open::utf8>>, "~" <> name | acc])
      _ -> scan(rest, m, cm, ["~" <> name | acc])
    end
  end
  defp special(<<q::utf8, rest::binary>>, m, cm, acc) when q in [?", ?'] do
    {body, rest} = until_quote(rest, q, [])
    scan(rest, m, cm, [<<q::utf8>>, blank(body, m), <<q::utf8>> | acc])
  end
  defp special(<<"#", rest::binary>>, m, :remove, acc) do
    {_comment, rest} = until_newline(rest, [])
    scan(rest, m, :remove, acc)
  end
  defp special(<<"#", rest::binary>>, m, :keep, acc) do
    {comment, rest} = until_newline(rest, [])
    scan(rest, m, :keep, [comment, "#" | acc])
  end
  defp special(<<c::utf8, rest::binary>>, m, cm, acc), do: scan(rest, m, cm, [<<c::utf8>> | acc])
  defp special(<<c, rest::binary>>, m, cm, acc), do: scan(rest, m, cm, [<<c>> | acc])

  defp blank(body, :spaces), do: String.replace(body, ~r/[^\n]/u, " ")
  defp blank(body, :empty), do: String.replace(body, ~r/[^\n]/u, "")
  defp blank(body, {:fill, c}),
    do: body |> String.replace(~r/[^\n]/u, c) |> String.split("\n") |> Enum.map_join("\n", &if(&1 == "", do: c, else: &1))

  defp until_triple(<<>>, _q, acc), do: {IO.iodata_to_binary(Enum.reverse(acc)), ""}
  defp until_triple(<<"\\", c::utf8, rest::binary>>, q, acc), do: until_triple(rest, q, [<<"\\", c::utf8>> | acc])
  defp until_triple(<<q3::binary-size(3), rest::binary>>, q, acc) when q3 == q, do: {IO.iodata_to_binary(Enum.reverse(acc)), rest}
  defp until_triple(<<c::utf8, rest::binary>>, q, acc), do: until_triple(rest, q, [<<c::utf8>> | acc])
  defp until_triple(<<c, rest::binary>>, q, acc), do: until_triple(rest, q, [<<c>> | acc])

  # Interpolations may hold strings of their own; braces are counted to find their end.
  defp until_quote(<<>>, _q, acc), do: {IO.iodata_to_binary(Enum.reverse(acc)), ""}
  defp until_quote(<<"\\", c::utf8, rest::binary>>, q, acc), do: until_quote(rest, q, [<<"\\", c::utf8>> | acc])
  defp until_quote(<<"\#{", rest::binary>>, q, acc) do
    {inner, rest} = interpolation(rest, 1, [])
    until_quote(rest, q, [inner, "\#{" | acc])
  end
  defp until_quote(<<c::utf8, rest::binary>>, q, acc) when c == q, do: {IO.iodata_to_binary(Enum.reverse(acc)), rest}
  defp until_quote(<<c::utf8, rest::binary>>, q, acc), do: until_quote(rest, q, [<<c::utf8>> | acc])
  defp until_quote(<<c, rest::binary>>, q, acc), do: until_quote(rest, q, [<<c>> | acc])

  defp interpolation(<<>>, _d, acc), do: {IO.iodata_to_binary(Enum.reverse(acc)), ""}
  defp interpolation(<<"}", rest::binary>>, 1, acc), do: {IO.iodata_to_binary(Enum.reverse(["}" | acc])), rest}
  defp interpolation(<<"}", rest::binary>>, d, acc), do: interpolation(rest, d - 1, ["}" | acc])
  defp interpolation(<<"{", rest::binary>>, d, acc), do: interpolation(rest, d + 1, ["{" | acc])
  defp interpolation(<<q::utf8, rest::binary>>, d, acc) when q in [?", ?'] do
    {body, rest} = until_quote(rest, q, [])
    interpolation(rest, d, [<<q::utf8>>, body, <<q::utf8>> | acc])
  end
  defp interpolation(<<c::utf8, rest::binary>>, d, acc), do: interpolation(rest, d, [<<c::utf8>> | acc])
  defp interpolation(<<c, rest::binary>>, d, acc), do: interpolation(rest, d, [<<c>> | acc])

  defp until_close(<<>>, _o, _c, _d, acc), do: {IO.iodata_to_binary(Enum.reverse(acc)), ""}
  defp until_close(<<"\\", c::utf8, rest::binary>>, o, cl, d, acc), do: until_close(rest, o, cl, d, [<<"\\", c::utf8>> | acc])
  defp until_close(<<c::utf8, rest::binary>>, _o, cl, 0, acc) when c == cl, do: {IO.iodata_to_binary(Enum.reverse(acc)), rest}
  defp until_close(<<c::utf8, rest::binary>>, o, cl, d, acc) when c == cl, do: until_close(rest, o, cl, d - 1, [<<c::utf8>> | acc])
  defp until_close(<<c::utf8, rest::binary>>, o, cl, d, acc) when c == o and o != cl, do: until_close(rest, o, cl, d + 1, [<<c::utf8>> | acc])
  defp until_close(<<c::utf8, rest::binary>>, o, cl, d, acc), do: until_close(rest, o, cl, d, [<<c::utf8>> | acc])
  defp until_close(<<c, rest::binary>>, o, cl, d, acc), do: until_close(rest, o, cl, d, [<<c>> | acc])

  defp until_newline(bin, _acc) do
    case :binary.match(bin, "\n") do
      :nomatch -> {bin, ""}
      {pos, _} -> {binary_part(bin, 0, pos), binary_part(bin, pos, byte_size(bin) - pos)}
    end
  end

  defp sigil_name(<<c::utf8, rest::binary>>, acc) when c in ?A..?Z or c in ?0..?9, do: sigil_name(rest, acc <> <<c::utf8>>)
  defp sigil_name(rest, acc), do: {acc, rest}

  defp modifiers(<<c::utf8, rest::binary>>, acc) when c in ?a..?z or c in ?A..?Z, do: modifiers(rest, acc <> <<c::utf8>>)
  defp modifiers(rest, acc), do: {acc, rest}

  defp close_of(?(), do: ?)
  defp close_of(?[), do: ?]
  defp close_of(?{), do: ?}
  defp close_of(?<), do: ?>
  defp close_of(c), do: c

  @doc "The tokens Elixir's tokenizer makes of the code (as Credo reads them); [] when it cannot."
  def tokens(code) do
    case :elixir_tokenizer.tokenize(String.to_charlist(code), 1, 1, []) do
      {:ok, _, _, _, tokens} -> tokens
      {:ok, tokens} -> tokens
      _ -> []
    end
  rescue
    _ -> []
  end

  @doc "Credo's column for a trigger: where it first stands on the line between spaces, word boundaries, parentheses or commas."
  def column(_line, nil), do: nil
  def column(line, trigger) when is_binary(line) do
    regexed = Regex.escape(to_string(trigger))
    case Regex.run(~r/(\s|\b|\(|\)|\,)(#{regexed})(\s|\b|\(|\)|\,)/, line, return: :index) do
      [_, _, {col, _}, _] -> String.length(binary_part(line, 0, col)) + 1
      _ -> nil
    end
  rescue
    _ -> nil
  end

  @def_ops [:def, :defp, :defmacro]

  @doc """
  Credo's per-line scope priority: a module adds 1 (2 with five or more definitions), a function
  0 to 3 by its arity, and a function's own is added to its module's. A line belongs to the last
  definition (or module-level expression) that starts at or before it.
  """
  def scope_priorities(ast, line_count) do
    infos = scope_infos(ast)
    prios = scope_prio_map(ast, infos)
    # Walk lines in order: the scope of line L is the last info starting at or before L.
    sorted = Enum.sort_by(Enum.with_index(infos), fn {{l, _, _}, i} -> {l, i} end) |> Enum.map(&elem(&1, 0))
    {_, _, out} =
      Enum.reduce(1..max(line_count, 1), {sorted, {nil, ""}, []}, fn line, {pending, current, out} ->
        {taken, rest} = Enum.split_while(pending, fn {l, _, _} -> is_integer(l) and l <= line end)
        current = case List.last(taken) do
          {_, op, name} -> {op, name}
          nil -> current
        end
        {rest, current, [Map.get(prios, elem(current, 1), 0) | out]}
      end)
    out |> Enum.reverse() |> List.to_tuple()
  end

  # {line, op, scope name} in visiting order, as Credo's scope list has them.
  defp scope_infos(ast) do
    {_, acc} = Macro.prewalk(ast, [], fn node, acc -> modules(node, acc, nil, nil) end)
    Enum.reverse(acc)
  end

  defp modules({:defmodule, meta, args} = node, acc, scope, _op) when is_list(args) do
    name = join([scope, module_name(node)])
    {_, defs} = Macro.prewalk(args, [], fn n, a -> defs(n, a, name, :defmodule) end)
    {nil, Enum.reverse(defs) ++ [{meta[:line], :defmodule, name} | acc]}
  end
  defp modules({_, meta, _} = node, acc, scope, op) when is_list(meta), do: {node, [{meta[:line], op, scope} | acc]}
  defp modules(node, acc, _, _), do: {node, acc}

  defp defs({:defmodule, _, args} = node, acc, scope, _op) when is_list(args) do
    {_, inner} = Macro.prewalk(node, [], fn n, a -> modules(n, a, scope, :defmodule) end)
    {nil, Enum.reverse(inner) ++ acc}
  end
  defp defs({op, meta, args} = node, acc, scope, _) when op in @def_ops and is_list(args),
    do: {nil, [{meta[:line], op, join([scope, def_name(node)])} | acc]}
  defp defs({_, meta, _} = node, acc, scope, op) when is_list(meta), do: {node, [{meta[:line], op, scope} | acc]}
  defp defs(node, acc, _, _), do: {node, acc}

  defp scope_prio_map(ast, infos) do
    {_, found} = Macro.prewalk(ast, [], fn
      {:defmodule, meta, _} = n, acc -> {n, [{meta[:line], module_prio(n)} | acc]}
      {op, meta, [{_, _, _} = head, _]} = n, acc when op in @def_ops -> {n, [{meta[:line], def_prio(head)} | acc]}
      n, acc -> {n, acc}
    end)
    by_line = Enum.group_by(found, &elem(&1, 0), &elem(&1, 1)) |> Map.new(fn {l, ps} -> {l, Enum.sum(ps)} end)
    names = infos |> Enum.filter(fn {l, op, _} -> op in [:defmodule | @def_ops] and Map.has_key?(by_line, l) end)
    base = Enum.reduce(names, %{}, fn {l, _op, name}, m -> if name, do: Map.put(m, name, by_line[l]), else: m end)
    Map.new(base, fn {name, prio} ->
      parts = String.split(name, ".")
      if Regex.match?(~r/^[a-z]/, List.last(parts)) do
        {name, prio + Map.get(base, parts |> Enum.drop(-1) |> Enum.join("."), 0)}
      else
        {name, prio}
      end
    end)
  end

  defp module_prio(node), do: if(def_count(node) >= 5, do: 2, else: 1)

  defp def_prio({:when, _, [head | _]}), do: def_prio(head)
  defp def_prio({_, _, args}) do
    case if(is_list(args), do: length(args), else: 0) do
      0 -> 0
      n when n in 1..2 -> 1
      n when n in 3..4 -> 2
      _ -> 3
    end
  end

  defp def_count(node) do
    {_, n} = Macro.prewalk(node, 0, fn
      {op, _, args} = x, acc when op in @def_ops and is_list(args) -> {x, acc + 1}
      x, acc -> {x, acc}
    end)
    n
  end

  def module_name({:defmodule, _, [{:__aliases__, _, parts} | _]}), do: alias_text(parts)
  def module_name({:defmodule, _, [name | _]}) when is_atom(name), do: inspect(name)
  def module_name(_), do: nil

  def def_name({_, _, [{:when, _, [head | _]} | _]}), do: def_name({nil, nil, [head]})
  def def_name({_, _, [{name, _, _} | _]}) when is_atom(name), do: to_string(name)
  def def_name(_), do: nil

  @doc "An alias's text; a part that is an expression (`__MODULE__`, `unquote(x)`) is written as code."
  def alias_text(parts), do: Enum.map_join(parts, ".", fn p -> if is_atom(p), do: Atom.to_string(p), else: Macro.to_string(p) end)

  defp join(parts), do: parts |> Enum.reject(&is_nil/1) |> Enum.join(".")
end
