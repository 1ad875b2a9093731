# Sobelow 0.13's configuration findings that one file can show: a Phoenix router's pipelines and
# routes, an endpoint's sockets, a config file's HTTPS settings; and XSS.ContentType. Read from the
# AST only. Confidence, ids and CWEs as Sobelow's catalogue has them.
defmodule ECSobelowConfig do
  @moduledoc false

  @state_changing [:post, :put, :patch, :delete]

  @doc "Findings for `ast`; `path` (when known) tells a config/prod.exs apart."
  def run(ast, path, controller?) do
    pipelines(ast) ++ routes(ast) ++ sockets(ast) ++ https(ast, path) ++ content_types(ast, controller?)
  end

  defp finding(type, rule, cwe, meta, msg, conf),
    do: %{source: "sobelow", check: type, rule_id: rule, cwe: cwe, category: "security", line: Keyword.get(meta, :line, 0),
          column: Keyword.get(meta, :column, 0), message: msg, confidence: conf, builtin: true}

  # --- router pipelines: CSRF protection, secure headers, Content-Security-Policy ---
  defp pipelines(ast) do
    attrs = module_attributes(ast)
    {_, acc} = Macro.prewalk(ast, [], fn
      {:pipeline, meta, [_name, [do: block]]} = n, acc ->
        plugs = plugs(block)
        csrf = if plug?(plugs, :fetch_session) and not plug?(plugs, :protect_from_forgery),
                 do: [finding("Config.CSRF", "SBLW005", "CWE-352", meta, "Missing CSRF Protections", "high")], else: []
        accepts = Enum.find_value(plugs, [], &accepts/1)
        headers = if not plug?(plugs, :put_secure_browser_headers) and is_list(accepts) and "html" in accepts,
                    do: [finding("Config.Headers", "SBLW007", "CWE-693", meta, "Missing Secure Browser Headers", "high")], else: []
        {n, csrf ++ headers ++ csp(plugs, attrs) ++ acc}
      n, acc -> {n, acc}
    end)
    Enum.reverse(acc)
  end

  defp plugs({:__block__, _, list}), do: Enum.filter(list, &match?({:plug, _, _}, &1))
  defp plugs({:plug, _, _} = one), do: [one]
  defp plugs(_), do: []

  defp plug?(plugs, name), do: Enum.any?(plugs, &match?({:plug, _, [^name | _]}, &1))

  defp accepts({:plug, _, [:accepts, {:sigil_w, _, [{:<<>>, _, [list]}, _]}]}) when is_binary(list), do: String.split(list)
  defp accepts({:plug, _, [:accepts, list]}) when is_list(list), do: list
  defp accepts(_), do: nil

  defp csp(plugs, attrs) do
    case Enum.find(plugs, &match?({:plug, _, [:put_secure_browser_headers | _]}, &1)) do
      nil -> []
      {:plug, meta, [_]} -> [csp_finding(meta, "high")]
      {:plug, meta, [_, {:%{}, _, headers}]} -> if csp?(headers), do: [], else: [csp_finding(meta, "high")]
      {:plug, meta, [_, {:@, _, [{attr, _, _}]}]} ->
        case Map.get(attrs, attr) do
          {:%{}, _, headers} -> if csp?(headers), do: [], else: [csp_finding(meta, "high")]
          _ -> [csp_finding(meta, "high")]
        end
      {:plug, meta, _} -> [csp_finding(meta, "low")]
    end
  end

  defp csp_finding(meta, conf), do: finding("Config.CSP", "SBLW003", "CWE-693", meta, "Missing Content-Security-Policy", conf)

  defp csp?(headers), do: Enum.any?(headers, fn {k, _} -> is_binary(k) and String.downcase(k) == "content-security-policy"; _ -> false end)

  defp module_attributes(ast) do
    {_, acc} = Macro.prewalk(ast, %{}, fn
      {:@, _, [{name, _, [value]}]} = n, acc when is_atom(name) -> {n, Map.put(acc, name, value)}
      n, acc -> {n, acc}
    end)
    acc
  end

  # --- CSRFRoute: one controller action reachable by GET and by a state-changing method, in a scope ---
  defp routes(ast) do
    {_, scopes} = Macro.prewalk(ast, [], fn
      {:scope, _, args} = n, acc when is_list(args) -> {n, [scope_routes(List.last(args)) | acc]}
      n, acc -> {n, acc}
    end)
    scopes
    |> Enum.flat_map(fn routes ->
      routes
      |> Enum.group_by(fn {_, _, args} -> controller_action(args) end)
      |> Enum.flat_map(fn
        {nil, _} -> []
        {_, same} ->
          methods = Enum.map(same, &elem(&1, 0))
          if :get in methods and Enum.any?(@state_changing, &(&1 in methods)),
            do: for({:get, meta, _} <- same, do: finding("Config.CSRFRoute", "SBLW004", "CWE-352", meta, "CSRF via Action Reuse", "high")),
            else: []
      end)
    end)
    |> Enum.sort_by(& &1.line)
  end

  defp scope_routes(kw) when is_list(kw) do
    case Keyword.get(kw, :do) do
      {:__block__, _, list} -> Enum.filter(list, &route?/1)
      one -> Enum.filter([one], &route?/1)
    end
  end
  defp scope_routes(_), do: []

  defp route?({m, _, [_, _, action | _]}) when m in [:get | @state_changing] and is_atom(action), do: true
  defp route?(_), do: false

  defp controller_action([_path, controller, action | _]), do: {Macro.to_string(controller), action}
  defp controller_action(_), do: nil

  # --- CSWH: an endpoint socket whose websocket does not check the origin ---
  defp sockets(ast) do
    {_, acc} = Macro.prewalk(ast, [], fn
      {:socket, meta, [_, _, opts]} = n, acc when is_list(opts) ->
        ws = Keyword.get(opts, :websocket)
        conf = if is_list(ws) and Keyword.keyword?(ws) do
          case Keyword.fetch(ws, :check_origin) do
            {:ok, false} -> "high"
            {:ok, v} when v in [true, nil] -> nil
            {:ok, _} -> "low"
            :error -> nil
          end
        end
        if conf, do: {n, [finding("Config.CSWH", "SBLW006", "CWE-1385", meta, "Cross-Site Websocket Hijacking", conf) | acc]}, else: {n, acc}
      n, acc -> {n, acc}
    end)
    Enum.reverse(acc)
  end

  # --- HTTPS in config/prod.exs; HSTS where https is configured without force_ssl ---
  defp https(ast, path) do
    configs = config_keys(ast)
    has_https = :https in configs
    has_force = :force_ssl in configs
    prod = is_binary(path) and (path == "config/prod.exs" or String.ends_with?(path, "/config/prod.exs"))
    httpsf = if prod and not has_https and not has_force,
               do: [finding("Config.HTTPS", "SBLW009", "CWE-319", [line: 0, column: 0], "HTTPS Not Enabled", "high")], else: []
    hsts = if has_https and not has_force,
             do: [finding("Config.HSTS", "SBLW008", "CWE-319", [line: 0, column: 0], "HSTS Not Enabled", "medium")], else: []
    httpsf ++ hsts
  end

  defp config_keys(ast) do
    {_, acc} = Macro.prewalk(ast, [], fn
      {:config, _, args} = n, acc when is_list(args) and args != [] ->
        last = List.last(args)
        {n, if(is_list(last) and Keyword.keyword?(last), do: Keyword.keys(last) ++ acc, else: acc)}
      n, acc -> {n, acc}
    end)
    acc
  end

  # --- XSS.ContentType: a content type that is not a literal ---
  defp content_types(ast, controller?) do
    {_, acc} = Macro.prewalk(ast, [], fn
      {:put_resp_content_type, meta, args} = n, acc when is_list(args) and length(args) in [1, 2, 3] ->
        ctype = if length(args) == 1, do: hd(args), else: Enum.at(args, 1)
        if is_binary(ctype) or match?({:<<>>, _, parts} when is_list(parts), ctype) and literal_parts?(ctype),
          do: {n, acc},
          else: {n, [finding("XSS.ContentType", "SBLW028", "CWE-79", meta, "XSS in `put_resp_content_type`", if(controller?, do: "high", else: "low")) | acc]}
      n, acc -> {n, acc}
    end)
    Enum.reverse(acc)
  end

  defp literal_parts?({:<<>>, _, parts}), do: Enum.all?(parts, &is_binary/1)
end
