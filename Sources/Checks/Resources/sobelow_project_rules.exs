# Sobelow 0.13's findings that need the small Phoenix project around the checked file: XSS.Raw
# through a template a controller renders (`raw @var` in templates/<controller>/<name>.eex or .heex),
# and the known vulnerable dependencies (Vuln.*) of a project's mix.exs / mix.lock. Files are read
# and parsed as data, never evaluated.
defmodule ECSobelowProject do
  @moduledoc false

  # The vulnerable versions, as Sobelow 0.13 lists them: exact versions or Version requirements.
  @vulns [
    %{type: "Vuln.PlugNull", rule: "SBLW026", package: "plug", name: "Plug", detail: "Null Byte Injection in Plug.Static", cve: "CVE-2017-1000052",
      versions: ~w(1.3.1 1.3.0 1.2.2 1.2.1 1.2.0 1.1.6 1.1.5 1.1.4 1.1.3 1.1.2 1.1.1 1.1.0 1.0.3 1.0.2 1.0.1 1.0.0)},
    %{type: "Vuln.CookieRCE", rule: "SBLW023", package: "plug", name: "Plug", detail: "Arbitrary Code Execution in Cookie Serialization", cve: "CVE-2017-1000053",
      versions: ~w(1.3.1 1.3.0 1.2.2 1.2.1 1.2.0 1.1.6 1.1.5 1.1.4 1.1.3 1.1.2 1.1.1 1.1.0 1.0.3 1.0.2 1.0.1 1.0.0)},
    %{type: "Vuln.HeaderInject", rule: "SBLW025", package: "plug", name: "Plug", detail: "Header Injection", cve: "CVE-2018-1000883",
      requirements: ["<= 1.3.4 and >= 1.3.0", "<= 1.2.4 and >= 1.2.0", "<= 1.1.8 and >= 1.1.0", "<= 1.0.5"]},
    %{type: "Vuln.Redirect", rule: "SBLW027", package: "phoenix", name: "Phoenix", detail: "Arbitrary URL Redirect", cve: "CVE-2017-1000163",
      versions: ~w(1.0.0 1.0.1 1.0.2 1.0.3 1.0.4 1.1.0 1.1.1 1.1.2 1.1.3 1.1.4 1.1.5 1.1.6 1.2.0 1.2.1 1.3.0-rc.0)},
    %{type: "Vuln.Coherence", rule: "SBLW022", package: "coherence", name: "Coherence", detail: "Permissive parameters and privilege escalation",
      cve: "CVE-2018-20301", requirements: ["<= 0.5.1"]},
    %{type: "Vuln.Ecto", rule: "SBLW024", package: "ecto", name: "Ecto", detail: "Missing `is_nil` requirement", cve: "CVE-2017-20166", requirements: ["== 2.2.0"]}
  ]

  @doc "Findings for the file at `path` (nil: none; the rules need the project on disk)."
  def run(_ast, nil, _controller?), do: []
  def run(ast, path, controller?) do
    case Path.basename(path) do
      name when name in ["mix.exs", "mix.lock"] -> vulns(Path.dirname(path), name)
      _ -> if controller?, do: template_raw(ast, path), else: []
    end
  end

  def catalog, do: @vulns

  defp finding(type, rule, cwe, line, msg, conf, snippet),
    do: %{source: "sobelow", check: type, rule_id: rule, cwe: cwe, category: "security", line: line, column: 0, message: msg,
          confidence: conf, builtin: true, snippet: snippet, variable: snippet}

  # --- Vuln.*: a dependency's version from deps/<pkg>/mix.exs (`@version`, what Sobelow reads), else mix.lock ---
  defp vulns(root, checked) do
    lock_text = read(Path.join(root, "mix.lock"))
    locked = locked_versions(lock_text)
    checked_text = read(Path.join(root, checked)) || ""
    for v <- @vulns, version = dep_version(root, v.package) || locked[v.package], version != nil, vulnerable?(version, v) do
      line = declaration_line(checked_text, v.package)
      finding(v.type, v.rule, "CWE-1395", line, "Known Vulnerable Dependency - #{v.name} v#{version} (#{v.detail}, #{v.cve})", "high", "#{v.package} #{version}")
    end
  end

  defp read(path), do: (case File.read(path) do {:ok, t} -> t; _ -> nil end)

  # mix.lock is a map literal: %{"plug": {:hex, :plug, "1.3.0", ...}}.
  defp locked_versions(nil), do: %{}
  defp locked_versions(text) do
    case Code.string_to_quoted(text, emit_warnings: false) do
      # Keys are strings in old lock files, quoted atoms (`"plug": ...`) in new ones.
      {:ok, {:%{}, _, pairs}} ->
        for {name, {:{}, _, [:hex, _, version | _]}} <- pairs, (is_binary(name) or is_atom(name)) and is_binary(version), into: %{},
            do: {to_string(name), version}
      _ -> %{}
    end
  end

  defp dep_version(root, package) do
    with text when is_binary(text) <- read(Path.join([root, "deps", package, "mix.exs"])),
         {:ok, ast} <- Code.string_to_quoted(text) do
      {_, found} = Macro.prewalk(ast, nil, fn
        {:@, _, [{:version, _, [v]}]} = n, nil when is_binary(v) -> {n, v}
        n, acc -> {n, acc}
      end)
      found
    else
      _ -> nil
    end
  end

  defp vulnerable?(version, %{versions: list}), do: version in list
  defp vulnerable?(version, %{requirements: reqs}) do
    case Version.parse(version) do
      {:ok, v} -> Enum.any?(reqs, &Version.match?(v, &1))
      _ -> false
    end
  end

  # The line naming the package (`{:plug, ...}` in mix.exs, `"plug": {...}` in mix.lock); 1 when none does.
  defp declaration_line(text, package) do
    text
    |> String.split("\n")
    |> Enum.find_index(&Regex.match?(~r/(\{:#{package}\b|"#{package}"\s*:)/, &1))
    |> case do
      nil -> 1
      i -> i + 1
    end
  end

  # --- XSS.Raw through a template: render(conn, "show.html", name: value) and `raw @name` in the template ---
  defp template_raw(ast, path) do
    controller = path |> Path.basename() |> String.replace_suffix("_controller.ex", "")
    templates = path |> Path.dirname() |> Path.dirname() |> Path.join("templates/#{controller}")
    {_, acc} = Macro.prewalk(ast, [], fn
      {kind, _, [head, _]} = n, acc when kind in [:def, :defp] ->
        {n, action_findings(n, params_of(head), templates) ++ acc}
      n, acc -> {n, acc}
    end)
    Enum.reverse(acc)
  end

  defp params_of({:when, _, [head | _]}), do: params_of(head)
  defp params_of({_name, _, args}) when is_list(args) do
    {_, vars} = Macro.prewalk(args, [], fn
      {name, _, ctx} = n, acc when is_atom(name) and is_atom(ctx) -> {n, [name | acc]}
      n, acc -> {n, acc}
    end)
    vars
  end
  defp params_of(_), do: []

  defp action_findings(def_ast, params, templates) do
    {_, acc} = Macro.prewalk(def_ast, [], fn
      {:render, meta, args} = n, acc when is_list(args) ->
        {n, render_findings(args, meta, params, templates) ++ acc}
      n, acc -> {n, acc}
    end)
    acc
  end

  # render(conn, template, assigns) or, piped, render(template, assigns).
  defp render_findings(args, meta, params, templates) do
    {template, assigns} =
      case args do
        [_conn, t, kw] when is_list(kw) -> {t, kw}
        [t, kw] when is_list(kw) -> {t, kw}
        _ -> {nil, []}
      end
    name = cond do
      is_atom(template) and template != nil -> Atom.to_string(template) <> ".html"
      is_binary(template) -> template
      true -> nil
    end
    raws = if name, do: template_raws(Path.join(templates, name <> ".eex")) || template_raws(Path.join(templates, name <> ".heex")) || [], else: []
    for {key, value} <- assigns, is_atom(key), "@#{key}" in raws, conf = assign_confidence(value, params), conf != nil do
      finding("XSS.Raw", "SBLW030", "CWE-79", Keyword.get(meta, :line, 0), "XSS", conf, "@#{key}")
    end
  end

  # A value from the action's parameters (or conn.params) is high; another variable's, medium; a literal, nothing.
  defp assign_confidence(value, params) do
    {_, vars} = Macro.prewalk(value, [], fn
      {{:., _, [{:conn, _, _}, :params]}, _, _} = n, acc -> {n, [:conn_params | acc]}
      {name, _, ctx} = n, acc when is_atom(name) and is_atom(ctx) -> {n, [name | acc]}
      n, acc -> {n, acc}
    end)
    cond do
      :conn_params in vars or Enum.any?(vars, &(&1 in params and &1 != :conn)) -> "high"
      match?({_, _, _}, value) -> "medium"
      true -> nil
    end
  end

  # The assigns a template passes to raw: `raw @name`, `raw(@name)`, `Phoenix.HTML.raw(@name)`.
  defp template_raws(path) do
    case File.read(path) do
      {:ok, text} -> for [_, var] <- Regex.scan(~r/\braw\(?\s*@(\w+)/, text), do: "@" <> var
      _ -> nil
    end
  end
end
