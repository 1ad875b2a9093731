# The user's `.credo.exs` and `.sobelow-conf`, read as data: parsed with Code.string_to_quoted and
# walked as literals, never evaluated. What is not a literal (a function call, a variable, a
# module attribute) is skipped and named in the notes.
defmodule ECToolConfig do
  @moduledoc false

  @doc "The Credo settings that apply to `path` (relative to the config's folder; nil when unknown)."
  def credo(nil, _path, kind), do: credo_default(kind)
  def credo("", _path, kind), do: credo_default(kind)
  def credo(text, path, kind) do
    base = credo_default(kind)
    case Code.string_to_quoted(text) do
      {:error, {meta, msg, token}} ->
        %{base | notes: [".credo.exs does not parse (line #{Keyword.get(meta, :line, 1)}: #{message(msg)}#{token}); Credo's defaults apply"]}
      {:ok, ast} ->
        {data, notes} = literal(ast, [])
        configs = if is_map(data), do: List.wrap(Map.get(data, :configs)), else: []
        chosen = Enum.find(configs, &(is_map(&1) and Map.get(&1, :name) == "default")) || List.first(configs)
        if is_map(chosen), do: apply_credo(base, chosen, path, notes),
          else: %{base | notes: notes ++ [".credo.exs has no configs list; Credo's defaults apply"]}
    end
  end

  defp credo_default(kind),
    do: %{disabled: MapSet.new(), params: %{}, priorities: %{}, strict: nil, included: true, config_file?: kind == "config", notes: []}

  defp message({a, b}), do: a <> b
  defp message(m), do: to_string(m)

  defp apply_credo(base, config, path, notes) do
    {disabled, params, priorities, check_notes} = checks(Map.get(config, :checks, []))
    files = Map.get(config, :files, %{})
    included = path == nil or files_match?(path, files)
    strict = case Map.get(config, :strict) do
      b when is_boolean(b) -> b
      _ -> nil
    end
    %{base | disabled: disabled, params: params, priorities: priorities, strict: strict, included: included,
      notes: notes ++ check_notes ++ if(included, do: [], else: ["#{path} is outside the files .credo.exs includes (or is excluded), so Credo does not check it"])}
  end

  # `checks:` is a list of {Check, params | false}, or (Credo 1.7) %{enabled: [...], disabled: [...]}.
  defp checks(list) when is_list(list), do: checks(%{enabled: list})
  defp checks(map) when is_map(map) do
    enabled = List.wrap(Map.get(map, :enabled, []))
    explicit_off = List.wrap(Map.get(map, :disabled, []))
    Enum.reduce(enabled ++ Enum.map(explicit_off, &off/1), {MapSet.new(), %{}, %{}, []}, fn entry, {dis, params, prios, notes} ->
      case entry do
        {mod, false} when is_atom(mod) -> {MapSet.put(dis, short(mod)), params, prios, notes}
        {mod, opts} when is_atom(mod) and is_list(opts) ->
          {prio, p} = Keyword.pop(Enum.filter(opts, &match?({k, _} when is_atom(k), &1)), :priority)
          p = p |> Keyword.delete(:exit_status) |> Keyword.delete(:tags) |> Map.new()
          prios = if prio != nil, do: Map.put(prios, short(mod), priority(prio)), else: prios
          {MapSet.delete(dis, short(mod)), Map.update(params, short(mod), p, &Map.merge(&1, p)), prios, notes}
        {mod} when is_atom(mod) -> {MapSet.delete(dis, short(mod)), params, prios, notes}
        mod when is_atom(mod) -> {dis, params, prios, notes}
        other -> {dis, params, prios, notes ++ ["a checks entry of .credo.exs is not {Check, params}: #{inspect(other, limit: 5)}"]}
      end
    end)
  end
  defp checks(_), do: {MapSet.new(), %{}, %{}, ["the checks of .credo.exs are not a list"]}

  defp off({mod, _}), do: {mod, false}
  defp off({mod}), do: {mod, false}
  defp off(mod), do: {mod, false}

  defp short(mod), do: mod |> Atom.to_string() |> String.replace_prefix("Elixir.", "") |> String.replace_prefix("Credo.Check.", "")

  defp priority(p) when is_integer(p), do: p
  defp priority(p) when p in [:higher, :high, :normal, :low, :ignore], do: %{higher: 20, high: 10, normal: 1, low: -10, ignore: -100}[p]
  defp priority(_), do: 0

  # `included` and `excluded` hold folder prefixes, globs or regexes; excluded wins.
  defp files_match?(path, files) when is_map(files) do
    included = List.wrap(Map.get(files, :included, ["lib/", "src/", "test/", "web/", "apps/*/lib/", "apps/*/src/", "apps/*/test/", "apps/*/web/"]))
    excluded = List.wrap(Map.get(files, :excluded, []))
    Enum.any?(included, &path_match?(path, &1)) and not Enum.any?(excluded, &path_match?(path, &1))
  end
  defp files_match?(_, _), do: true

  defp path_match?(path, %Regex{} = r), do: Regex.match?(r, path)
  defp path_match?(path, pattern) when is_binary(pattern) do
    if String.contains?(pattern, "*") or String.contains?(pattern, "?") do
      glob = pattern |> Regex.escape() |> String.replace("\\*\\*/", "(.*/)?") |> String.replace("\\*", "[^/]*") |> String.replace("\\?", "[^/]")
      Regex.match?(~r/^#{glob}/, path)
    else
      String.starts_with?(path, pattern) or path == String.trim_trailing(pattern, "/")
    end
  end
  defp path_match?(_, _), do: false

  @doc "Sobelow's settings from `.sobelow-conf`: types to ignore, files to ignore, the lowest confidence shown, and whether skips count."
  def sobelow(nil), do: %{ignore: [], ignore_files: [], threshold: "low", skip: false, notes: []}
  def sobelow(""), do: sobelow(nil)
  def sobelow(text) do
    base = sobelow(nil)
    case Code.string_to_quoted(text) do
      {:ok, ast} ->
        {data, notes} = literal(ast, [])
        if is_list(data) and Keyword.keyword?(data) do
          %{base | ignore: strings(Keyword.get(data, :ignore, [])), ignore_files: strings(Keyword.get(data, :ignore_files, [])),
            threshold: to_string(Keyword.get(data, :threshold, "low")), skip: Keyword.get(data, :skip, false) == true,
            notes: Enum.map(notes, &String.replace(&1, ".credo.exs", ".sobelow-conf"))}
        else
          %{base | notes: [".sobelow-conf is not a keyword list; Sobelow's defaults apply"]}
        end
      {:error, _} -> %{base | notes: [".sobelow-conf does not parse; Sobelow's defaults apply"]}
    end
  end

  defp strings(list) when is_list(list), do: list |> Enum.filter(&is_binary/1) |> Enum.reject(&(&1 == ""))
  defp strings(_), do: []

  # --- literals out of the AST; everything else becomes :unreadable with a note ---
  defp literal({:%{}, _, pairs}, notes) do
    Enum.reduce(pairs, {%{}, notes}, fn {k, v}, {map, notes} ->
      {kv, notes} = literal(k, notes)
      {vv, notes} = literal(v, notes)
      {Map.put(map, kv, vv), notes}
    end)
  end
  defp literal({:{}, _, items}, notes) do
    {vals, notes} = literals(items, notes)
    {List.to_tuple(vals), notes}
  end
  defp literal({a, b}, notes) do
    {[va, vb], notes} = literals([a, b], notes)
    {{va, vb}, notes}
  end
  defp literal(list, notes) when is_list(list), do: literals(list, notes)
  defp literal({:__aliases__, _, parts}, notes) when is_list(parts) do
    if Enum.all?(parts, &is_atom/1), do: {Module.concat(parts), notes}, else: {:unreadable, notes ++ ["an alias built at run time"]}
  end
  defp literal({:sigil_r, _, [{:<<>>, _, [source]}, mods]}, notes) when is_binary(source) do
    case Regex.compile(source, to_string(mods)) do
      {:ok, r} -> {r, notes}
      _ -> {:unreadable, notes ++ ["the regex ~r/#{source}/ does not compile"]}
    end
  end
  defp literal({sigil, _, [{:<<>>, _, [source]}, _]}, notes) when sigil in [:sigil_w, :sigil_W] and is_binary(source),
    do: {String.split(source), notes}
  defp literal({:<<>>, _, parts}, notes) do
    if Enum.all?(parts, &is_binary/1), do: {Enum.join(parts), notes}, else: {:unreadable, notes ++ ["an interpolated string"]}
  end
  defp literal({:-, _, [n]}, notes) when is_number(n), do: {-n, notes}
  defp literal(x, notes) when is_atom(x) or is_number(x) or is_binary(x), do: {x, notes}
  defp literal({_, meta, _} = other, notes) do
    line = if is_list(meta), do: Keyword.get(meta, :line, 1), else: 1
    what = other |> Macro.to_string() |> String.slice(0, 60)
    {:unreadable, notes ++ ["line #{line} of .credo.exs: `#{what}` is code, not data, and was skipped (the file is read, never run)"]}
  end

  defp literals(items, notes) do
    {vals, notes} = Enum.reduce(items, {[], notes}, fn item, {acc, notes} ->
      {v, notes} = literal(item, notes)
      {[v | acc], notes}
    end)
    {Enum.reverse(vals), notes}
  end
end
