# Credo 1.7's single-file checks, written from its documented behaviour: each check's id, category,
# base priority (plus Credo's scope bonus), trigger, column and message are Credo's. The code is
# only parsed and tokenized, never evaluated. Consistency checks judge the file against itself.
# It uses ECCredoSource (credo_source.exs), which the checker loads first.

defmodule ECCredo do
  @moduledoc false
  alias ECCredoSource, as: Src

  # Check => {category, base priority}; Credo's names: higher 20, high 10, normal 1 (0 when unset), low -10.
  @checks %{
    "Consistency.ExceptionNames" => {"consistency", 10}, "Consistency.LineEndings" => {"consistency", 10},
    "Readability.AliasOrder" => {"readability", -10}, "Readability.ParenthesesInCondition" => {"readability", 10},
    "Warning.MissedMetadataKeyInLoggerConfig" => {"warning", 10}, "Warning.WrongTestFilename" => {"warning", 10},
    "Consistency.ParameterPatternMatching" => {"consistency", 10}, "Consistency.SpaceAroundOperators" => {"consistency", 10},
    "Consistency.SpaceInParentheses" => {"consistency", 10}, "Consistency.TabsOrSpaces" => {"consistency", 10},
    "Design.AliasUsage" => {"design", -10}, "Design.TagFIXME" => {"design", 10}, "Design.TagTODO" => {"design", 0},
    "Readability.FunctionNames" => {"readability", 10},
    "Readability.LargeNumbers" => {"readability", 10}, "Readability.MaxLineLength" => {"readability", -10},
    "Readability.ModuleAttributeNames" => {"readability", 10}, "Readability.ModuleDoc" => {"readability", 0},
    "Readability.ModuleNames" => {"readability", 10}, "Readability.ParenthesesOnZeroArityDefs" => {"readability", -10}, "Readability.PipeIntoAnonymousFunctions" => {"readability", -10},
    "Readability.PredicateFunctionNames" => {"readability", 10}, "Readability.PreferImplicitTry" => {"readability", -10},
    "Readability.RedundantBlankLines" => {"readability", -10}, "Readability.Semicolons" => {"readability", 10},
    "Readability.SpaceAfterCommas" => {"readability", 0}, "Readability.StringSigils" => {"readability", -10},
    "Readability.TrailingBlankLine" => {"readability", -10}, "Readability.TrailingWhiteSpace" => {"readability", -10},
    "Readability.UnnecessaryAliasExpansion" => {"readability", -10}, "Readability.VariableNames" => {"readability", 10},
    "Readability.WithSingleClause" => {"readability", 0}, "Refactor.Apply" => {"refactor", -10},
    "Refactor.CondStatements" => {"refactor", 0}, "Refactor.CyclomaticComplexity" => {"refactor", 0},
    "Refactor.FilterCount" => {"refactor", 10}, "Refactor.FilterFilter" => {"refactor", 0},
    "Refactor.FunctionArity" => {"refactor", 0}, "Refactor.LongQuoteBlocks" => {"refactor", 10},
    "Refactor.MapJoin" => {"refactor", 10}, "Refactor.MatchInCondition" => {"refactor", 0},
    "Refactor.NegatedConditionsInUnless" => {"refactor", 10}, "Refactor.NegatedConditionsWithElse" => {"refactor", 10},
    "Refactor.Nesting" => {"refactor", 0}, "Refactor.RedundantWithClauseResult" => {"refactor", 10},
    "Refactor.RejectReject" => {"refactor", 0}, "Refactor.UnlessWithElse" => {"refactor", 10},
    "Refactor.WithClauses" => {"refactor", 10}, "Warning.ApplicationConfigInModuleAttribute" => {"warning", 10},
    "Warning.BoolOperationOnSameValues" => {"warning", 10}, "Warning.Dbg" => {"warning", 10},
    "Warning.ExpensiveEmptyEnumCheck" => {"warning", 10}, "Warning.IExPry" => {"warning", 10},
    "Warning.IoInspect" => {"warning", 10}, "Warning.OperationOnSameValues" => {"warning", 10},
    "Warning.OperationWithConstantResult" => {"warning", 10}, "Warning.RaiseInsideRescue" => {"warning", 0},
    "Warning.SpecWithStruct" => {"warning", 1}, "Warning.StructFieldAmount" => {"warning", 1},
    "Warning.UnsafeExec" => {"warning", 10}, "Warning.UnusedEnumOperation" => {"warning", 10},
    "Warning.UnusedFileOperation" => {"warning", 10}, "Warning.UnusedKeywordOperation" => {"warning", 10},
    "Warning.UnusedListOperation" => {"warning", 10}, "Warning.UnusedMapOperation" => {"warning", 10},
    "Warning.UnusedPathOperation" => {"warning", 10}, "Warning.UnusedRegexOperation" => {"warning", 10},
    "Warning.UnusedStringOperation" => {"warning", 10}, "Warning.UnusedTupleOperation" => {"warning", 10}
  }

  # Parameters Credo's checks take, with Credo's defaults; a .credo.exs may change them.
  @params %{
    "Readability.MaxLineLength" => %{max_length: 120, ignore_definitions: true, ignore_strings: true, ignore_urls: true, ignore_heredocs: true, ignore_sigils: true},
    "Refactor.Nesting" => %{max_nesting: 2}, "Refactor.CyclomaticComplexity" => %{max_complexity: 9},
    "Refactor.FunctionArity" => %{max_arity: 8, ignore_defp: false}, "Readability.LargeNumbers" => %{only_greater_than: 9999},
    "Readability.RedundantBlankLines" => %{max_blank_lines: 1}, "Readability.StringSigils" => %{maximum_allowed_quotes: 3},
    "Refactor.LongQuoteBlocks" => %{max_line_count: 150}, "Warning.StructFieldAmount" => %{max_fields: 31},
    "Refactor.MatchInCondition" => %{allow_tagged_tuples: false}, "Design.AliasUsage" => %{if_nested_deeper_than: 0, if_called_more_often_than: 0},
    "Readability.TrailingWhiteSpace" => %{ignore_strings: true}, "Readability.ParenthesesOnZeroArityDefs" => %{parens: false},
    "Readability.AliasOrder" => %{sort_method: :alpha}, "Warning.MissedMetadataKeyInLoggerConfig" => %{metadata_keys: []}
  }

  @doc "Every check this module implements, with its category and base priority."
  def catalog, do: @checks

  @doc "The parameters of `check` (short name) after the user's configuration."
  def params(check, config), do: Map.merge(Map.get(@params, check, %{}), Map.get(config.params, check, %{}))

  @doc """
  Runs every enabled check on parsed `code`; returns findings with Credo's priority (base plus the
  scope bonus of the finding's line) and column (the trigger's place on the line when the check gives none).
  """
  def run(code, ast, config, guard) do
    lines = String.split(code, "\n")
    ltuple = List.to_tuple(lines)
    ctx = %{config: config, lines: ltuple, code: code, ast: ast}
    checks = [
      {"ast", fn -> ast_checks(ast, ctx, guard) end},
      {"Readability.ModuleDoc", fn -> module_doc(ast) end},
      {"Consistency.ParameterPatternMatching", fn -> parameter_pattern_matching(ast) end},
      {"Consistency.ExceptionNames", fn -> exception_names(ast) end},
      {"Readability.AliasOrder", fn -> alias_order(ast, ctx) end},
      {"Warning.MissedMetadataKeyInLoggerConfig", fn -> logger_metadata(ast, ctx) end},
      {"Warning.WrongTestFilename", fn -> wrong_test_filename(ast, config) end},
      {"Refactor.Nesting", fn -> defs_checks(ast, ctx) end},
      {"text", fn -> text_checks(code, lines, ast, ctx) end},
      {"tokens", fn -> token_checks(code, ctx) end}
    ]
    found =
      checks
      |> Enum.flat_map(fn {name, fun} -> guard.("Credo.Check." <> name, fun) end)
      |> Enum.filter(fn f -> Map.get(f, :check) == "ElixirCoder.RuleFailed" or enabled?(f.short, config) end)
    # Scope priorities only matter for lines with findings; a clean file skips them.
    prios = if found == [], do: {}, else: Src.scope_priorities(ast, length(lines))
    Enum.map(found, &finish(&1, ltuple, prios, config))
  end

  defp enabled?(short, config), do: not MapSet.member?(config.disabled, short)

  defp finish(%{check: "ElixirCoder.RuleFailed"} = f, _lines, _prios, _config), do: f
  defp finish(f, lines, prios, config) do
    {category, base} = Map.fetch!(@checks, f.short)
    base = Map.get(config.priorities, f.short, base)
    line_text = if f.line in 1..tuple_size(lines)//1, do: elem(lines, f.line - 1), else: ""
    bonus = if f.line in 1..tuple_size(prios)//1, do: elem(prios, f.line - 1), else: 0
    column = f[:column] || if(is_binary(f[:trigger]), do: Src.column(line_text, f.trigger))
    %{source: "credo", check: "Credo.Check." <> f.short, category: category, priority: base + bonus, line: f.line, column: column,
      message: f.message, trigger: f[:trigger], snippet: String.trim(line_text), builtin: true}
  end

  defp issue(short, line, message, trigger, column \\ nil),
    do: %{short: short, line: line, message: message, trigger: trigger && to_string(trigger), column: column}

  defp line(meta) when is_list(meta), do: Keyword.get(meta, :line, 1)
  defp line(_), do: 1

  # --- one walk over the AST; each node is offered to the checks that match its shape ---
  defp ast_checks(ast, ctx, guard) do
    {_, acc} = Macro.prewalk(ast, [], fn node, acc ->
      case node_checks(node, ctx) do
        [] -> {node, acc}
        named -> {node, Enum.flat_map(named, fn {n, f} -> guard.("Credo.Check." <> n, f) end) ++ acc}
      end
    end)
    acc
  end

  defp node_checks({:|>, meta, [left, right]}, _ctx) do
    [{"Refactor.MapJoin", fn -> pipe_pair(left, right, meta, :map, :join, "Refactor.MapJoin", "`Enum.map_join/3` is more efficient than `Enum.map/2 |> Enum.join/2`.") end},
     {"Refactor.FilterFilter", fn -> pipe_pair(left, right, meta, :filter, :filter, "Refactor.FilterFilter", "One `Enum.filter/2` is more efficient than `Enum.filter/2 |> Enum.filter/2`") end},
     {"Refactor.RejectReject", fn -> pipe_pair(left, right, meta, :reject, :reject, "Refactor.RejectReject", "One `Enum.reject/2` is more efficient than `Enum.reject/2 |> Enum.reject/2`") end},
     {"Refactor.FilterCount", fn -> filter_count_pipe(left, right) end},
     {"Readability.PipeIntoAnonymousFunctions", fn ->
       if match?({{:., _, [{:fn, _, _}]}, _, _}, right) or match?({{:., _, [{_, _, ctxv}]}, _, _} when is_atom(ctxv), right) and anon_call?(right),
         do: issue("Readability.PipeIntoAnonymousFunctions", line(meta), "Avoid piping into anonymous function calls.", "|>", meta[:column])
     end}]
  end

  defp node_checks({{:., dmeta, [{:__aliases__, ameta, mod}, fun]}, cmeta, args}, ctx) when is_atom(fun) and is_list(args) do
    # `__MODULE__.Sub` and `mod.Sub` have a first part that is an expression, not a name.
    m = if Enum.all?(mod, &is_atom/1), do: Src.alias_text(mod), else: ""
    [{"Warning.IoInspect", fn -> if m == "IO" and fun == :inspect, do: issue("Warning.IoInspect", line(cmeta), "There should be no calls to `IO.inspect/1`.", "IO.inspect", ameta[:column]) end},
     {"Warning.IExPry", fn -> if m == "IEx" and fun == :pry, do: issue("Warning.IExPry", line(cmeta), "There should be no calls to `IEx.pry/0`.", "IEx.pry", ameta[:column]) end},
     {"Warning.Dbg", fn -> if m == "Kernel" and fun == :dbg, do: issue("Warning.Dbg", line(cmeta), "There should be no calls to `dbg/1`.", "dbg", ameta[:column]) end},
     {"Design.AliasUsage", fn -> alias_usage(mod, fun, ameta, cmeta, ctx) end},
     {"Refactor.MapJoin", fn -> nested_pair(m, fun, args, ameta, dmeta, :map, :join, "Refactor.MapJoin", "`Enum.map_join/3` is more efficient than `Enum.map/2 |> Enum.join/2`.", "Enum.join") end},
     {"Refactor.FilterFilter", fn -> nested_pair(m, fun, args, ameta, dmeta, :filter, :filter, "Refactor.FilterFilter", "One `Enum.filter/2` is more efficient than `Enum.filter/2 |> Enum.filter/2`", "|>") end},
     {"Refactor.RejectReject", fn -> nested_pair(m, fun, args, ameta, dmeta, :reject, :reject, "Refactor.RejectReject", "One `Enum.reject/2` is more efficient than `Enum.reject/2 |> Enum.reject/2`", "|>") end},
     {"Refactor.FilterCount", fn ->
       if m == "Enum" and fun == :count and match?([_], args) and (enum_call?(hd(args), :filter) or match?({:|>, _, [_, r]} when is_tuple(r), hd(args)) and pipe_ends_in?(hd(args), :filter)),
         do: issue("Refactor.FilterCount", line(dmeta), "`Enum.count/2` is more efficient than `Enum.filter/2 |> Enum.count/1`.", "count")
     end},
]
  end

  defp node_checks({{:., dmeta, [:os, :cmd]}, cmeta, [arg | _]}, _ctx) do
    [{"Warning.UnsafeExec", fn ->
      unless is_binary(arg) or match?({:sigil_c, _, _}, arg) or is_list(arg),
        do: issue("Warning.UnsafeExec", line(cmeta), "Prefer System.cmd/2,3 over :os.cmd/1 to prevent command injection.", ":os.cmd", erl_col(dmeta, ":os"))
    end}]
  end

  defp node_checks({:dbg, meta, args}, _ctx) when is_list(args),
    do: [{"Warning.Dbg", fn -> issue("Warning.Dbg", line(meta), "There should be no calls to `dbg/1`.", "dbg", meta[:column]) end}]

  defp node_checks({:apply, meta, [_fun, args]}, _ctx) when is_list(args),
    do: [{"Refactor.Apply", fn -> issue("Refactor.Apply", line(meta), "Avoid `apply/2` and `apply/3` when the number of arguments is known.", "apply") end}]
  defp node_checks({:apply, meta, [_mod, _fun, args]}, _ctx) when is_list(args),
    do: [{"Refactor.Apply", fn -> issue("Refactor.Apply", line(meta), "Avoid `apply/2` and `apply/3` when the number of arguments is known.", "apply") end}]

  defp node_checks({op, meta, [cond_expr, opts]}, _ctx) when op in [:if, :unless] and is_list(opts) do
    has_else = Keyword.keyword?(opts) and Keyword.has_key?(opts, :else)
    negated = negation(cond_expr)
    [{"Refactor.UnlessWithElse", fn -> if op == :unless and has_else, do: issue("Refactor.UnlessWithElse", line(meta), "Unless conditions should avoid having an `else` block.", "unless") end},
     {"Refactor.NegatedConditionsInUnless", fn ->
       if op == :unless and negated != nil, do: issue("Refactor.NegatedConditionsInUnless", line(meta), "Avoid negated conditions in unless blocks.", negated)
     end},
     {"Refactor.NegatedConditionsWithElse", fn ->
       if op == :if and negated != nil and has_else, do: issue("Refactor.NegatedConditionsWithElse", line(meta), "Avoid negated conditions in if-else blocks.", negated)
     end},
     {"Refactor.MatchInCondition", fn -> match_in_condition(op, cond_expr) end}]
  end

  defp node_checks({:cond, meta, args}, _ctx) when is_list(args) do
    [{"Refactor.CondStatements", fn ->
      conditions = case args do
        [[do: clauses]] -> List.wrap(clauses)
        _ -> []
      end
      always = Enum.any?(conditions, fn
        {:->, _, [[{name, _, nil}], _]} when is_atom(name) -> String.starts_with?(to_string(name), "_")
        {:->, _, [[true], _]} -> true
        _ -> false
      end)
      if length(conditions) <= 2 and always,
        do: issue("Refactor.CondStatements", line(meta), "Cond statements should contain at least two conditions besides `true`, consider using `if` instead.", "cond")
    end}]
  end

  defp node_checks({:with, meta, [_ | _] = args}, _ctx) do
    {clauses, last} = Enum.split(args, -1)
    block = List.first(last)
    do_block? = is_list(block) and Keyword.keyword?(block) and Keyword.has_key?(block, :do)
    else? = do_block? and Keyword.has_key?(block, :else)
    arrows = Enum.count(clauses, &match?({:<-, _, _}, &1))
    [{"Readability.WithSingleClause", fn ->
      if do_block? and else? and clauses != [] and arrows <= 1 and not Enum.any?(clauses, &match?({:unquote_splicing, _, _}, &1)),
        do: issue("Readability.WithSingleClause", line(meta), "`with` contains only one <- clause and an `else` branch, consider using `case` instead", "with")
    end},
     {"Refactor.RedundantWithClauseResult", fn ->
       if do_block? and not else? and clauses != [] do
         case List.last(clauses) do
           {:<-, _, [pattern, _]} ->
             redundant = strip(pattern) == strip(Keyword.get(block, :do)) and not contains_map?(pattern)
             cond do
               redundant and length(clauses) == 1 -> issue("Refactor.RedundantWithClauseResult", line(meta), "`with` statement is redundant.", "with")
               redundant -> issue("Refactor.RedundantWithClauseResult", line(meta), "Last clause in `with` is redundant.", "with")
               true -> nil
             end
           _ -> nil
         end
       end
     end},
     {"Refactor.WithClauses", fn ->
       cond do
         clauses == [] or not do_block? -> nil
         not match?({:<-, _, _}, hd(clauses)) and arrows > 0 ->
           issue("Refactor.WithClauses", line(meta), "`with` doesn't start with a <- clause, move the non-pattern <- clauses outside of the `with`.", "with")
         not match?({:<-, _, _}, List.last(clauses)) and arrows > 0 ->
           issue("Refactor.WithClauses", line(meta), "`with` doesn't end with a <- clause, move the non-pattern <- clauses inside the body of the `with`.", "with")
         true -> nil
       end
     end}]
  end

  defp node_checks({kind, _meta, [head, [do: {:try, tmeta, _}]]}, _ctx) when kind in [:def, :defp, :defmacro] and is_tuple(head),
    do: [{"Readability.PreferImplicitTry", fn -> issue("Readability.PreferImplicitTry", line(tmeta), "Prefer using an implicit `try` rather than explicit `try`.", "try") end}] ++
          def_head_checks(kind, head)
  defp node_checks({kind, _meta, [head | _]}, _ctx) when kind in [:def, :defp, :defmacro, :defmacrop] and is_tuple(head), do: def_head_checks(kind, head)

  defp node_checks({:try, _, [opts]}, _ctx) when is_list(opts) do
    case Keyword.get(opts, :rescue) do
      nil -> []
      block -> [{"Warning.RaiseInsideRescue", fn -> raises(block) end}]
    end
  end

  defp node_checks({:@, meta, [{name, _, value}]} = node, _ctx) when is_atom(name) do
    [{"Readability.ModuleAttributeNames", fn ->
      unless snake_case?(Atom.to_string(name)),
        do: issue("Readability.ModuleAttributeNames", line(meta), "Module attribute names should be written in snake_case.", "@#{name}", meta[:column])
    end},
     {"Warning.ApplicationConfigInModuleAttribute", fn -> if is_list(value), do: app_config(name, node) end},
     {"Warning.SpecWithStruct", fn -> if name == :spec, do: spec_structs(node) end}]
  end

  defp node_checks({:defmodule, meta, [{:__aliases__, _, parts} = alias_ast | _]}, _ctx) do
    name = Src.alias_text(parts)
    [{"Readability.ModuleNames", fn ->
      if Enum.all?(parts, &is_atom/1) and not Enum.all?(parts, &pascal_case?(Atom.to_string(&1))),
        do: issue("Readability.ModuleNames", line(meta), "Module names should be written in PascalCase.", name, elem(alias_ast, 1)[:column])
    end}]
  end

  defp node_checks({:=, meta, [{name, _, ctxv} | _]}, _ctx) when is_atom(name) and is_atom(ctxv) do
    [{"Readability.VariableNames", fn ->
      unless snake_case?(String.trim_leading(Atom.to_string(name), "_")),
        do: issue("Readability.VariableNames", line(meta), "Variable names should be written in snake_case.", name)
    end}]
  end

  defp node_checks({op, meta, [lhs, rhs]}, _ctx) when op in [:==, :>=, :<=, :!=, :>, :<, :/, :-] do
    names = %{:== => {"Comparison", true}, :>= => {"Comparison", true}, :<= => {"Comparison", true}, :!= => {"Comparison", false},
              :> => {"Comparison", false}, :< => {"Comparison", false}, :/ => {"Operation", 1}, :- => {"Operation", 0}}
    {what, result} = names[op]
    [{"Warning.OperationOnSameValues", fn ->
      if var_or_attr?(lhs) and strip(lhs) == strip(rhs),
        do: issue("Warning.OperationOnSameValues", line(meta), "#{what} will always return #{result}.", op, meta[:column])
    end},
     {"Warning.ExpensiveEmptyEnumCheck", fn -> empty_enum_check(op, meta, lhs, rhs) end}]
  end

  defp node_checks({op, meta, [lhs, rhs]}, _ctx) when op in [:and, :or, :&&, :||] do
    [{"Warning.BoolOperationOnSameValues", fn ->
      if strip(lhs) === strip(rhs),
        do: issue("Warning.BoolOperationOnSameValues", line(meta), "There are identical sub-expressions to the left and to the right of the '#{op}' operator.", op, meta[:column])
    end}]
  end

  defp node_checks({:*, meta, [_lhs, rhs]}, _ctx) when rhs in [0, 1] do
    [{"Warning.OperationWithConstantResult", fn ->
      what = if rhs == 0, do: "zero", else: "the left side of the expression"
      issue("Warning.OperationWithConstantResult", line(meta), "Operation will always return #{what}.", :*, meta[:column])
    end}]
  end

  defp node_checks({:defstruct, meta, [fields]}, ctx) when is_list(fields) do
    [{"Warning.StructFieldAmount", fn ->
      max = params("Warning.StructFieldAmount", ctx.config).max_fields
      if length(fields) > max,
        do: issue("Warning.StructFieldAmount", line(meta), "Struct has more than #{max} fields (#{length(fields)} found).", "defstruct", meta[:column])
    end}]
  end

  defp node_checks({:quote, meta, args} = node, ctx) when is_list(args) do
    [{"Refactor.LongQuoteBlocks", fn ->
      max = params("Refactor.LongQuoteBlocks", ctx.config).max_line_count
      last = node_last_line(node)
      if last - line(meta) > max, do: issue("Refactor.LongQuoteBlocks", line(meta), "Avoid long quote blocks.", "quote")
    end}]
  end

  defp node_checks({kind, _meta, [{{:., _, [{:__aliases__, _, base}, :{}]}, emeta, [single]}]}, _ctx) when kind in [:alias, :require, :import, :use] do
    [{"Readability.UnnecessaryAliasExpansion", fn ->
      case single do
        {:__aliases__, _, parts} ->
          trigger = Src.alias_text(base) <> ".{" <> Src.alias_text(parts) <> "}"
          issue("Readability.UnnecessaryAliasExpansion", line(emeta), "Unnecessary alias expansion for #{trigger}, consider removing braces.", trigger)
        _ -> nil
      end
    end}]
  end

  defp node_checks({:__block__, _, stmts}, _ctx) when is_list(stmts) and length(stmts) > 1,
    do: [{"Warning.UnusedOperation", fn -> unused_ops(Enum.drop(stmts, -1)) end}]

  defp node_checks(_, _), do: []

  # Only a block can leave a value unused: every statement but the last.
  @unused %{[:Enum] => "Enum", [:String] => "String", [:Keyword] => "Keyword", [:Map] => "Map", [:List] => "List",
            [:Tuple] => "Tuple", [:Path] => "Path", [:Regex] => "Regex", [:File] => "File"}
  @file_pure ~w(read read! exists? dir? regular? stat stat! lstat lstat! ls ls! cwd cwd!)a
  defp unused_ops(stmts) do
    Enum.flat_map(stmts, fn
      {{:., dmeta, [{:__aliases__, ameta, mod}, fun]}, _, _} when is_atom(fun) ->
        case Map.get(@unused, mod) do
          nil -> []
          "File" when fun not in @file_pure -> []
          name -> [issue("Warning.Unused#{name}Operation", line(dmeta), "There should be no unused return values for `#{name}` functions.", "#{name}.#{fun}", ameta[:column])]
        end
      _ -> []
    end)
  end

  defp def_head_checks(kind, head) do
    {name, args, meta} = case head do
      {:when, _, [{n, m, a} | _]} -> {n, a, m}
      {n, m, a} -> {n, a, m}
    end
    if not is_atom(name) or name in [:unquote, :__aliases__] do
      []
    else
      sname = Atom.to_string(name)
      [{"Readability.FunctionNames", fn ->
        plain = sname |> String.trim_trailing("?") |> String.trim_trailing("!")
        if not snake_case?(plain) and not operator_name?(sname),
          do: issue("Readability.FunctionNames", line(meta), "Function/macro/guard names should be written in snake_case.", sname)
      end},
       {"Readability.PredicateFunctionNames", fn ->
         cond do
           kind in [:def, :defp] and String.starts_with?(sname, "is_") and String.ends_with?(sname, "?") ->
             issue("Readability.PredicateFunctionNames", line(meta), "Predicate function names should not start with 'is', and should end in a question mark.", sname)
           kind == :def and String.starts_with?(sname, "is_") and not String.ends_with?(sname, "?") and is_list(args) and args != [] ->
             issue("Readability.PredicateFunctionNames", line(meta), "Predicate function names should not start with 'is', and should end in a question mark.", sname)
           true -> nil
         end
       end}]
    end
  end

  # --- checks that look at a whole definition ---
  defp defs_checks(ast, ctx) do
    {_, acc} = Macro.prewalk(ast, [], fn
      {op, meta, [head | _] = args} = node, acc when op in [:def, :defp, :defmacro] and is_tuple(head) ->
        {node, nesting(args, meta, ctx) ++ complexity(node, meta, ctx) ++ arity(op, head, meta, ctx) ++ acc}
      node, acc -> {node, acc}
    end)
    acc
  end

  @nest_ops [:if, :unless, :case, :cond, :fn, :for, :with]
  defp nesting(args, meta, ctx) do
    max = params("Refactor.Nesting", ctx.config).max_nesting
    body_blocks = case List.last(args) do
      kw when is_list(kw) -> if Keyword.keyword?(kw), do: Keyword.values(kw), else: []
      _ -> []
    end
    case body_blocks |> Enum.map(&depth(&1, 0, line(meta), nil)) |> Enum.max(fn -> nil end) do
      {d, l, trigger} when d > max ->
        [issue("Refactor.Nesting", l, "Function body is nested too deep (max depth is #{max}, was #{d}).", trigger)]
      _ -> []
    end
  end

  defp depth({op, meta, args}, d, _l, _t) when op in @nest_ops and is_list(args),
    do: args |> Enum.map(&depth(&1, d + 1, line(meta), op)) |> Enum.max(fn -> {d + 1, line(meta), op} end)
  defp depth({a, _, args}, d, l, t) when (is_atom(a) or is_tuple(a)) and is_list(args),
    do: args |> Enum.map(&depth(&1, d, l, t)) |> Enum.max(fn -> {d, l, t} end)
  defp depth(list, d, l, t) when is_list(list), do: list |> Enum.map(&depth(&1, d, l, t)) |> Enum.max(fn -> {d, l, t} end)
  defp depth({a, b}, d, l, t), do: Enum.max([depth(a, d, l, t), depth(b, d, l, t)])
  defp depth(_, d, l, t), do: {d, l, t}

  @cc_ops [:if, :unless, :for, :try, :and, :or, :&&, :||]
  defp complexity({_, _, [{:__using__, _, _} | _]}, _, _), do: []
  defp complexity(node, meta, ctx) do
    {_, n} = Macro.prewalk(node, 0, fn
      {op, _, args} = x, acc when op in [:def, :defp, :defmacro] and is_list(args) -> {x, acc + 1}
      {op, _, args} = x, acc when op in @cc_ops and is_list(args) -> {x, acc + 1}
      {op, _, args} = x, acc when op in [:case, :cond] and is_list(args) ->
        clauses = Enum.find_value(args, [], fn a -> is_list(a) and Keyword.keyword?(a) and Keyword.get(a, :do) end)
        {x, acc + length(List.wrap(clauses))}
      x, acc -> {x, acc}
    end)
    max = params("Refactor.CyclomaticComplexity", ctx.config).max_complexity
    if n > max do
      [issue("Refactor.CyclomaticComplexity", line(meta), "Function is too complex (cyclomatic complexity is #{n}, max is #{max}).", ECCredoSource.def_name(node))]
    else
      []
    end
  end

  defp arity(op, head, meta, ctx) do
    p = params("Refactor.FunctionArity", ctx.config)
    {name, args} = case head do
      {:when, _, [{n, _, a} | _]} -> {n, a}
      {n, _, a} -> {n, a}
    end
    n = if is_list(args), do: length(args), else: 0
    if n > p.max_arity and not (op == :defp and p.ignore_defp) and is_atom(name),
      do: [issue("Refactor.FunctionArity", line(meta), "Function takes too many parameters (arity is #{n}, max is #{p.max_arity}).", name)],
      else: []
  end

  # --- ModuleDoc: every module but the ones Credo lets go (controllers, views, tests, ...) ---
  @ignore_names ~r/(\.\w+Controller|\.Endpoint|\.\w+Live(\.\w+)?|\.Repo|\.Router|\.\w+Socket|\.\w+View|\.\w+HTML|\.\w+JSON|\.Telemetry|\.Layouts|\.Mailer)$/
  defp module_doc(ast) do
    {_, acc} = Macro.prewalk(ast, [], fn
      {:defmodule, meta, [{:__aliases__, _, parts}, [do: body]]} = n, acc ->
        name = Src.alias_text(parts)
        stmts = case body do
          {:__block__, _, s} -> s
          s -> [s]
        end
        doc = Enum.find_value(stmts, fn
          {:@, _, [{:moduledoc, _, [v]}]} -> {:doc, v}
          _ -> nil
        end)
        skip = Regex.match?(@ignore_names, name) or String.ends_with?(name, "Test") or uses_ignored?(stmts) or exception?(stmts)
        cond do
          skip -> {n, acc}
          doc == nil -> {n, [issue("Readability.ModuleDoc", line(meta), "Modules should have a @moduledoc tag.", name) | acc]}
          match?({:doc, ""}, doc) -> {n, [issue("Readability.ModuleDoc", line(meta), "Use `@moduledoc false` if a module will not be documented.", name) | acc]}
          true -> {n, acc}
        end
      n, acc -> {n, acc}
    end)
    acc
  end

  defp uses_ignored?(stmts) do
    Enum.any?(stmts, fn
      {:use, _, [{:__aliases__, _, parts} | _]} ->
        n = Src.alias_text(parts)
        n in ["Credo.Check", "Ecto.Schema", "Phoenix.LiveView"] or String.ends_with?(n, ".Web")
      _ -> false
    end)
  end

  defp exception?(stmts), do: Enum.any?(stmts, &match?({:defexception, _, _}, &1))

  # --- ParameterPatternMatching: `pattern = var` against `var = pattern` in parameters, the majority wins ---
  defp parameter_pattern_matching(ast) do
    {_, found} = Macro.prewalk(ast, [], fn
      {op, _, [head | _]} = n, acc when op in [:def, :defp, :defmacro] and is_tuple(head) ->
        params = case head do
          {:when, _, [{_, _, a} | _]} when is_list(a) -> a
          {_, _, a} when is_list(a) -> a
          _ -> []
        end
        {n, Enum.flat_map(params, &param_style/1) ++ acc}
      {:fn, _, clauses} = n, acc when is_list(clauses) ->
        {n, Enum.flat_map(clauses, fn
          {:->, _, [args, _]} when is_list(args) -> Enum.flat_map(args, &param_style/1)
          _ -> []
        end) ++ acc}
      n, acc -> {n, acc}
    end)
    counts = Enum.frequencies_by(found, &elem(&1, 0))
    case Enum.sort_by(counts, fn {_, c} -> -c end) do
      [{expected, _}, _ | _] ->
        actual = if expected == :after, do: :before, else: :after
        msg = "File has #{kind_text(actual)} while most of the files have #{kind_text(expected)} when naming parameter pattern matches"
        for {^actual, name, meta} <- found, do: issue("Consistency.ParameterPatternMatching", line(meta), msg, name)
      _ -> []
    end
  end

  defp kind_text(:after), do: "the variable name after the pattern"
  defp kind_text(:before), do: "the variable name before the pattern"

  defp param_style({:=, _, [{name, meta, ctxv}, pattern]}) when is_atom(name) and is_atom(ctxv) and is_tuple(pattern) and elem(pattern, 0) in [:%{}, :%, :{}, :<<>>],
    do: [{:before, name, meta}]
  defp param_style({:=, _, [pattern, {name, meta, ctxv}]}) when is_atom(name) and is_atom(ctxv) and (is_tuple(pattern) or is_list(pattern)),
    do: [{:after, name, meta}]
  defp param_style(_), do: []

  # --- text and token checks ---
  defp text_checks(code, lines, ast, ctx) do
    blanked_lines = Src.clean(code, :spaces, :keep) |> String.split("\n")
    dotted = Src.clean(code, {:fill, "."}, :keep) |> String.split("\n")
    no_comments = Src.clean(code, :spaces, :remove) |> String.split("\n")
    emptied = Src.clean(code, :empty, :keep) |> String.split("\n")
    def_lines = def_start_lines(ast)
    mll = params("Readability.MaxLineLength", ctx.config)
    rbl = params("Readability.RedundantBlankLines", ctx.config).max_blank_lines
    indexed = Enum.zip([Enum.to_list(1..length(lines)), lines, blanked_lines, no_comments, emptied, dotted])
    per_line = Enum.flat_map(indexed, fn {n, text, blank, nocomment, empty, dots} ->
      tags(n, text, blank) ++
        List.wrap(if trailing_space?(dots),
          do: issue("Readability.TrailingWhiteSpace", n, "There should be no trailing white-space at the end of a line.", String.replace(text, ~r/^.*?(\s+)$/, "\\1"),
                    String.length(String.trim_trailing(text)) + 1)) ++
        List.wrap(max_line(n, text, empty, mll, def_lines)) ++
        List.wrap(space_after_commas(n, nocomment))
    end)
    blank_issues =
      Src.clean(code, {:fill, "="}, :keep)
      |> String.split("\n")
      |> Enum.with_index(1)
      |> Enum.chunk_while([], fn {l, n}, run -> if l == "", do: {:cont, [n | run]}, else: {:cont, Enum.reverse(run), []} end, fn run -> {:cont, Enum.reverse(run), []} end)
      |> Enum.flat_map(fn run -> Enum.drop(run, rbl) end)
      |> Enum.map(&issue("Readability.RedundantBlankLines", &1, "There should be no more than #{rbl} consecutive blank lines.", nil))
    trailing = if String.ends_with?(code, "\n") or code == "", do: [],
      else: [issue("Readability.TrailingBlankLine", length(lines), "There should be a final \\n at the end of each file.", nil)]
    per_line ++ blank_issues ++ trailing ++ string_sigils(ast, ctx) ++ space_in_parentheses(code) ++ line_consistency(lines)
  end

  defp trailing_space?(""), do: false
  defp trailing_space?(line), do: :binary.last(line) in [?\s, ?\t]

  defp tags(n, text, blank) do
    # A tag counts in a comment: the `#` must survive blanking (so it is not inside a string).
    case :binary.match(blank, "#") do
      {pos, _} ->
        comment = binary_part(text, pos, byte_size(text) - pos) |> String.trim()
        cond do
          Regex.match?(~r/^#\s*TODO\b/i, comment) ->
            [issue("Design.TagTODO", n, "Found a TODO tag in a comment: #{comment}", comment)]
          Regex.match?(~r/^#\s*FIXME\b/i, comment) ->
            [issue("Design.TagFIXME", n, "Found a FIXME tag in a comment: #{comment}", comment)]
          true -> []
        end
      :nomatch -> []
    end
  end

  # Like Credo: string contents do not count, and a line with anything URL-like (which includes
  # `Module.function` calls) is not judged at all.
  @url ~r/[-a-zA-Z0-9@:%._\+~#=]{2,256}\.[a-z]{2,6}\b([-a-zA-Z0-9@:%_\+.~#?&\/\/=]*)/
  defp max_line(n, text, emptied, p, def_lines) do
    compared = if p.ignore_strings, do: emptied, else: text
    # Bytes bound characters from above: most lines are ruled out without counting graphemes.
    long = byte_size(compared) > p.max_length and String.length(compared) > p.max_length
    if long and not (p.ignore_urls and Regex.match?(@url, compared)) and not (p.ignore_definitions and MapSet.member?(def_lines, n)) do
      issue("Readability.MaxLineLength", n, "Line is too long (max is #{p.max_length}, was #{String.length(text)}).",
            String.slice(text, p.max_length, String.length(text)), p.max_length + 1)
    end
  end

  defp space_after_commas(n, line) do
    if :binary.match(line, ",") == :nomatch, do: [], else: comma_issues(n, line)
  end

  defp comma_issues(n, line) do
    Regex.scan(~r/(?<!\W\?)(\,\S)/, line, capture: :all_but_first, return: :index)
    |> List.flatten()
    |> Enum.map(fn {idx, len} -> issue("Readability.SpaceAfterCommas", n, "Space missing after comma.", binary_part(line, idx, len), idx + 1) end)
  end

  defp def_start_lines(ast) do
    {_, acc} = Macro.prewalk(ast, MapSet.new(), fn
      {op, meta, args} = n, acc when op in [:def, :defp, :defmacro, :defmacrop] and is_list(args) -> {n, MapSet.put(acc, line(meta))}
      n, acc -> {n, acc}
    end)
    acc
  end

  # Credo reads strings that are a call's first argument (heredocs blanked out first); a sigil's
  # contents are skipped, and so is the string once read.
  defp string_sigils(ast, ctx) do
    max = params("Readability.StringSigils", ctx.config).maximum_allowed_quotes
    {_, acc} = Macro.prewalk(ast, [], fn
      {name, meta, [first | rest]} = n, acc when is_list(meta) ->
        cond do
          is_atom(name) and match?("sigil_" <> _, Atom.to_string(name)) -> {rest, acc}
          is_binary(first) ->
            heredoc = line(meta) in 1..tuple_size(ctx.lines)//1 and String.contains?(elem(ctx.lines, line(meta) - 1), ~s("""))
            quotes = length(:binary.matches(first, "\""))
            if not heredoc and quotes > max,
              do: {rest, [issue("Readability.StringSigils", line(meta), "More than #{max} quotes found inside string literal, consider using a sigil instead.", first) | acc]},
              else: {rest, acc}
          true -> {n, acc}
        end
      n, acc -> {n, acc}
    end)
    acc
  end

  # SpaceInParentheses: lines with spaces inside brackets against lines without; the majority wins.
  @with_space ~r/[^\?]([\{\[\(]\s+\S|\S\s+[\)\]\}]])/
  @without_space ~r/[^\?]([\{\[\(]\S|\S[\)\]\}])/
  defp space_in_parentheses(code) do
    # Only lines with a bracket can match either way.
    lines = code |> Src.clean(:empty, :remove) |> String.split("\n") |> Enum.with_index(1)
            |> Enum.filter(fn {l, _} -> :binary.match(l, ["(", ")", "[", "]", "{", "}"]) != :nomatch end)
    with_n = Enum.count(lines, fn {l, _} -> Regex.match?(@with_space, l) end)
    without_n = Enum.count(lines, fn {l, _} -> Regex.match?(@without_space, l) end)
    {regex, msg} =
      cond do
        with_n == 0 or without_n == 0 -> {nil, nil}
        without_n >= with_n -> {@with_space, "There is no whitespace around parentheses/brackets most of the time, but here there is."}
        true -> {@without_space, "There is whitespace around parentheses/brackets most of the time, but here there is not."}
      end
    if regex do
      for {l, n} <- lines, m = Regex.run(regex, l), do: issue("Consistency.SpaceInParentheses", n, msg, Enum.at(m, 1))
    else
      []
    end
  end

  # LineEndings and TabsOrSpaces within the file: the first line that breaks the majority.
  defp line_consistency(lines) do
    crlf = Enum.count(lines, &String.ends_with?(&1, "\r"))
    lf = length(lines) - crlf - 1
    endings = cond do
      crlf > 0 and lf > 0 and lf >= crlf ->
        n = Enum.find_index(lines, &String.ends_with?(&1, "\r")) + 1
        [issue("Consistency.LineEndings", n, "File is using windows line endings while most of the files use unix line endings.", "\r\n")]
      crlf > 0 and lf > 0 ->
        n = Enum.find_index(Enum.drop(lines, -1), &(not String.ends_with?(&1, "\r"))) + 1
        [issue("Consistency.LineEndings", n, "File is using unix line endings while most of the files use windows line endings.", "\n")]
      true -> []
    end
    tabs = Enum.count(lines, &match?("\t" <> _, &1))
    spaces = Enum.count(lines, &space_indented?/1)
    indent = cond do
      tabs > 0 and spaces > 0 and spaces >= tabs ->
        for {l, n} <- Enum.with_index(lines, 1), match?("\t" <> _, l),
            do: issue("Consistency.TabsOrSpaces", n, "File is using tabs while most of the files use spaces for indentation.", "\t")
      tabs > 0 and spaces > 0 ->
        for {l, n} <- Enum.with_index(lines, 1), space_indented?(l),
            do: issue("Consistency.TabsOrSpaces", n, "File is using spaces while most of the files use tabs for indentation.", " ")
      true -> []
    end
    endings ++ indent
  end

  defp space_indented?(" " <> _ = l), do: Regex.match?(~r/^ +\S/, l)
  defp space_indented?(_), do: false

  defp token_checks(code, ctx) do
    tokens = Src.tokens(code)
    semis = for {:";", {l, c, _}} <- tokens, do: issue("Readability.Semicolons", l, "Don't use `;` to separate statements and expressions.", ";", c)
    semis ++ large_numbers(tokens, ctx) ++ space_around_operators(tokens, ctx) ++ zero_arity_issues(ctx) ++ parens_in_condition(tokens)
  end

  # --- ParenthesesInCondition: `if (x) do` / `unless(x) do`, read from the tokens as Credo does ---
  defp parens_in_condition(tokens), do: parens_in_condition(tokens, nil, [])
  defp parens_in_condition([], _prev, acc), do: Enum.reverse(acc)
  defp parens_in_condition([tok | rest], prev, acc) do
    acc = if cond_paren?(tok, rest, prev), do: [cond_paren_issue(tok) | acc], else: acc
    parens_in_condition(rest, tok, acc)
  end

  # `if (x) do` (a space: an identifier then a parenthesis): flagged when the parenthesis closes
  # right before the `do` (or `, do:`), not when it is only the first operand of a comparison.
  defp cond_paren?({:identifier, _, name}, [{:"(", _} = open | rest], _prev) when name in [:if, :unless],
    do: closes_before_do?(open, rest, nil)
  # `if(x) do` (a call): flagged unless a `do:` sits among the tokens at the parenthesis' level (the
  # whole call then is `if(x, do: ...)`); never after a pipe.
  defp cond_paren?({:paren_identifier, _, name}, _rest, {:arrow_op, _, :|>}) when name in [:if, :unless], do: false
  defp cond_paren?({:paren_identifier, _, name}, [{:"(", _} | rest], _prev) when name in [:if, :unless],
    do: not Enum.any?(outer_level_tokens(rest), &match?({_, _, :do}, &1))
  defp cond_paren?(_, _, _), do: false

  @operand_ops [:comp_op, :or_op, :and_op, :in_op, :mult_op, :dual_op, :rel_op]
  defp closes_before_do?({:do, _}, _rest, {:")", _}), do: true
  defp closes_before_do?({:",", _}, _rest, {:")", _}), do: true
  defp closes_before_do?({:")", _}, [{op, _, _} | _], _prev) when op in @operand_ops, do: false
  defp closes_before_do?({op, _, _}, [{:"(", _} | _], _prev) when op in [:or_op, :and_op, :comp_op], do: false
  defp closes_before_do?(tok, [next | rest], _prev), do: closes_before_do?(next, rest, tok)
  defp closes_before_do?(_tok, [], _prev), do: false

  # Tokens at nesting 0 counted from just inside the opening parenthesis, to the end of the file (as Credo counts).
  defp outer_level_tokens(tokens) do
    {_, out} =
      Enum.reduce(tokens, {0, []}, fn
        {:"(", _}, {n, out} -> {n + 1, out}
        {:")", _}, {n, out} -> {n - 1, out}
        tok, {0, out} -> {0, [tok | out]}
        _, state -> state
      end)
    out
  end

  defp cond_paren_issue({_, {l, _, _}, name}),
    do: issue("Readability.ParenthesesInCondition", l, "The condition of `#{name}` should not be wrapped in parentheses.", name)

  # --- Consistency.ExceptionNames: within the file, the prefix or suffix most exception modules share ---
  defp exception_names(ast) do
    {_, found} = Macro.prewalk(ast, [], fn
      {:defmodule, meta, [{:__aliases__, _, parts}, body]} = node, acc ->
        if exception_module?(body), do: {node, [{alias_name(parts), line(meta)} | acc]}, else: {node, acc}
      node, acc -> {node, acc}
    end)
    exceptions = Enum.reverse(found)
    counts =
      Enum.reduce(exceptions, %{}, fn {name, _}, acc ->
        {prefix, suffix} = pascal_ends(name)
        acc |> Map.update({:prefix, prefix}, 1, &(&1 + 1)) |> Map.update({:suffix, suffix}, 1, &(&1 + 1))
      end)
    # The most frequent convention wins (ties: the first in term order); one of each means no convention yet.
    case counts |> Enum.sort() |> Enum.max_by(&elem(&1, 1), fn -> nil end) do
      {{kind, expected}, n} when n > 1 ->
        for {name, l} <- exceptions, {p, s} = pascal_ends(name), (if kind == :prefix, do: p, else: s) != expected do
          how = if kind == :prefix, do: "to prefix them with `#{expected}`", else: "to have `#{expected}` as a suffix"
          issue("Consistency.ExceptionNames", l,
            "Exception modules should be named consistently. It seems your strategy is #{how}, but `#{name}` does not follow that convention.", name)
        end
      _ -> []
    end
  end

  defp exception_module?(body) do
    calls = case Keyword.get(List.wrap(if Keyword.keyword?(body), do: body, else: []), :do) do
      {:__block__, _, calls} -> calls
      nil -> []
      call -> [call]
    end
    Enum.any?(calls, &match?({:defexception, _, _}, &1))
  end

  # The first and last words of the module name's last part, split before capitals (`HTTPError`: H, Error).
  defp pascal_ends(name) do
    words = name |> String.split(".") |> List.last() |> String.replace(~r/([A-Z])/, " \\1") |> String.split()
    {List.first(words), List.last(words)}
  end

  # --- Readability.AliasOrder: aliases on consecutive lines form a group, sorted case-insensitively ---
  defp alias_order(ast, ctx) do
    method = params("Readability.AliasOrder", ctx.config).sort_method
    {_, {memo, groups}} = Macro.prewalk(ast, {[], []}, fn
      {:alias, _, [{:__aliases__, meta, parts} | _]}, state ->
        name = alias_name(parts)
        {nil, add_alias(state, {{alias_key(name, method), line(meta), line(meta)}, %{module: name, trigger: name, column: meta[:column]}})}
      {:alias, _, [{{:., _, [{:__aliases__, _, base}, :{}]}, meta, multi}]}, state ->
        subs = for {:__aliases__, m, parts} <- multi do
          full = alias_name(base ++ parts)
          {{alias_key(full, method), line(m), line(m)}, %{module: full, trigger: alias_name(parts), column: m[:column]}}
        end
        case subs do
          [{{key, _, _}, first} | _] ->
            closing = get_in(meta, [:closing, :line]) || line(meta)
            {nil, add_alias(state, {{key, line(meta), closing}, Map.put(first, :multi, subs)})}
          [] -> {nil, state}
        end
      node, state -> {node, state}
    end)
    [memo | groups]
    |> Enum.flat_map(fn group ->
      group = Enum.reverse(group)
      multi = for {_, %{multi: subs}} <- group, issue = alias_group_issue(subs), do: issue
      multi ++ List.wrap(alias_group_issue(group))
    end)
  end

  # `__MODULE__.Sub` and `mod.Sub` have a non-atom first part; it is named as written.
  defp alias_name(parts), do: Enum.map_join(parts, ".", fn p -> if is_atom(p), do: Atom.to_string(p), else: Macro.to_string(p) end)
  defp alias_key(name, :alpha), do: alias_key(String.downcase(name), nil)
  defp alias_key(name, _), do: name |> String.replace(~r/[{}]/, "") |> String.replace(~r/,.+/, "")

  # A new group starts unless the alias is on the line after the last one's end.
  defp add_alias({[{{_, _, last_end}, _} | _] = memo, groups}, {{_, l, _}, _} = cand) when l == last_end + 1, do: {[cand | memo], groups}
  defp add_alias({[], groups}, cand), do: {[cand], groups}
  defp add_alias({memo, groups}, cand), do: {[cand], [memo | groups]}

  defp alias_group_issue(group) do
    sorted = Enum.sort_by(group, &elem(&1, 0))
    case Enum.find(Enum.zip(group, sorted), fn {a, b} -> elem(a, 0) != elem(b, 0) end) do
      nil -> nil
      {{{_, l, _}, m}, _} ->
        issue("Readability.AliasOrder", l, "The alias `#{m.module}` is not alphabetically ordered among its group.", m.trigger, m.column)
    end
  end

  # --- Warning.MissedMetadataKeyInLoggerConfig: Logger calls with metadata keys the config does not list ---
  @logger_functions ~w(alert critical debug emergency error info notice warn warning metadata log)a
  defp logger_metadata(ast, ctx) do
    case params("Warning.MissedMetadataKeyInLoggerConfig", ctx.config).metadata_keys do
      :all -> []
      keys ->
        # Credo also reads the project's Logger config; from one file, only .credo.exs's list is known.
        known = List.wrap(keys) ++ [:ansi_color, :report_cb]
        {_, {_, acc}} = Macro.prewalk(ast, {false, []}, fn
          {{:., _, [{:__aliases__, _, [:Logger]}, fun]}, meta, args} = node, {imported, acc} when fun in @logger_functions ->
            {node, {imported, logger_issue(fun, args, meta, known) ++ acc}}
          {:import, _, [{:__aliases__, _, [:Logger]}]} = node, {_, acc} -> {node, {true, acc}}
          {fun, meta, args} = node, {true, acc} when fun in @logger_functions and is_list(args) ->
            {node, {true, logger_issue(fun, args, meta, known) ++ acc}}
          node, state -> {node, state}
        end)
        Enum.reverse(acc)
    end
  end

  defp logger_issue(:metadata, [kw], meta, known), do: missed_keys(kw, meta, known)
  defp logger_issue(:log, [_, _, kw], meta, known), do: missed_keys(kw, meta, known)
  defp logger_issue(:log, _, _, _), do: []
  defp logger_issue(_, [_, kw], meta, known), do: missed_keys(kw, meta, known)
  defp logger_issue(_, _, _, _), do: []

  defp missed_keys(kw, meta, known) do
    with true <- is_list(kw) and kw != [] and Keyword.keyword?(kw),
         [first | _] = missed <- Keyword.keys(Keyword.drop(kw, known)) do
      [issue("Warning.MissedMetadataKeyInLoggerConfig", line(meta), "Logger metadata key #{Enum.join(missed, ", ")} not found in Logger config.", first)]
    else
      _ -> []
    end
  end

  # --- Warning.WrongTestFilename: a file under test/ that uses a test case but is not named *_test.exs ---
  defp wrong_test_filename(ast, config) do
    path = Map.get(config, :path)
    if is_binary(path) and (String.starts_with?(path, "test/") or String.contains?(path, "/test/")) and not String.ends_with?(path, "_test.exs") do
      {_, acc} = Macro.prewalk(ast, [], fn
        {:quote, _, [_ | _]}, acc -> {nil, acc}
        {:use, meta, [{:__aliases__, _, parts} | _]} = node, acc ->
          name = alias_name(parts)
          if String.ends_with?(name, "Case"),
            do: {node, [issue("Warning.WrongTestFilename", line(meta), "Test files that `use #{name}` should end with `_test.exs`.", name) | acc]},
            else: {node, acc}
        node, acc -> {node, acc}
      end)
      Enum.reverse(acc)
    else
      []
    end
  end

  defp large_numbers(tokens, ctx) do
    limit = params("Readability.LargeNumbers", ctx.config).only_greater_than
    for {kind, {l, c, value}, raw} <- tokens, kind in [:int, :flt], is_number(value), abs(value) > limit,
        text = to_string(raw), not String.contains?(text, "_"), not String.starts_with?(text, "0x"),
        not String.starts_with?(text, "0b"), not String.starts_with?(text, "0o") do
      expected = underscored(text)
      issue("Readability.LargeNumbers", l, "Numbers larger than #{limit} should be written with underscores: #{expected}", text, c)
    end
  end

  defp underscored(text) do
    [int | frac] = String.split(text, ".", parts: 2)
    grouped = int |> String.reverse() |> String.to_charlist() |> Enum.chunk_every(3) |> Enum.join("_") |> String.reverse()
    Enum.join([grouped | frac], ".")
  end

  # SpaceAroundOperators: binary operators with spaces on both sides against none; the majority wins.
  @op_kinds [:comp_op, :dual_op, :mult_op, :concat_op, :rel_op, :and_op, :or_op, :match_op, :in_match_op, :pipe_op, :arrow_op, :type_op]
  defp space_around_operators(tokens, ctx) do
    lines = ctx.lines
    ops =
      tokens
      |> Enum.chunk_every(3, 1, :discard)
      |> Enum.flat_map(fn
        [prev, {kind, {l, c, _}, op}, _next] when kind in @op_kinds and kind != :arrow_op and kind != :type_op ->
          text = if l in 1..tuple_size(lines)//1, do: elem(lines, l - 1), else: ""
          len = String.length(Atom.to_string(op))
          before = if c >= 2, do: String.at(text, c - 2), else: nil
          after_ = String.at(text, c - 1 + len)
          unary = kind == :dual_op and unary?(prev)
          skip = unary or spec_line?(text) or String.contains?(text, "&") and op in [:/] or before == nil or after_ == nil or op in [:"//", :..]
          if skip, do: [], else: [{l, c, op, before == " " and after_ == " ", before != " " and after_ != " "}]
        _ -> []
      end)
    with_n = Enum.count(ops, &elem(&1, 3))
    without_n = Enum.count(ops, &elem(&1, 4))
    cond do
      with_n > 0 and without_n > 0 and with_n >= without_n ->
        for {l, c, op, _, true} <- ops, do: issue("Consistency.SpaceAroundOperators", l, "There are spaces around operators most of the time, but not here.", op, c)
      with_n > 0 and without_n > 0 ->
        for {l, c, op, true, _} <- ops, do: issue("Consistency.SpaceAroundOperators", l, "There are no spaces around operators most of the time, but here there are.", op, c)
      true -> []
    end
  end

  defp unary?({kind, _, _}) when kind in @op_kinds, do: true
  defp unary?({kind, _}) when kind in [:"(", :"[", :"{", :",", :";", :eol], do: true
  defp unary?({kind, _, _}) when kind in [:kw_identifier, :do, :block_identifier], do: true
  defp unary?({:identifier, _, name}) when name in [:when, :do, :else, :in, :not], do: true
  defp unary?(_), do: false

  defp spec_line?(text), do: :binary.match(text, "@") != :nomatch and Regex.match?(~r/^\s*@(spec|type|typep|opaque|callback)\b/, text)

  # ParenthesesOnZeroArityDefs: the def heads found in the walk are judged on their line's text.
  defp zero_arity_issues(ctx) do
    p = params("Readability.ParenthesesOnZeroArityDefs", ctx.config)
    {_, acc} = Macro.prewalk(ctx.ast, [], fn
      {op, _, [head | _]} = n, acc when op in [:def, :defp, :defmacro, :defmacrop] and is_tuple(head) ->
        {name, meta, args} = case head do
          {:when, _, [{a, b, c} | _]} -> {a, b, c}
          other -> other
        end
        if is_atom(name) and args in [nil, []] and name not in [:unquote] do
          text = if line(meta) in 1..tuple_size(ctx.lines)//1, do: elem(ctx.lines, line(meta) - 1), else: ""
          col = Src.column(text, name) || 0
          rest = String.slice(text, (col + String.length(to_string(name)) - 1)..-1//1)
          parens = Regex.match?(~r/^\((\w*)\)/, rest)
          cond do
            parens and not p.parens -> {n, [issue("Readability.ParenthesesOnZeroArityDefs", line(meta), "Do not use parentheses when defining a function which has no arguments.", name) | acc]}
            not parens and p.parens -> {n, [issue("Readability.ParenthesesOnZeroArityDefs", line(meta), "Use parentheses when defining a function which has no arguments.", name) | acc]}
            true -> {n, acc}
          end
        else
          {n, acc}
        end
      n, acc -> {n, acc}
    end)
    acc
  end

  # --- helpers for the node checks ---
  defp enum_call?({{:., _, [{:__aliases__, _, [:Enum]}, f]}, _, _}, f), do: true
  defp enum_call?(_, _), do: false

  defp pipe_ends_in?({:|>, _, [_, right]}, f), do: enum_call?(right, f)
  defp pipe_ends_in?(_, _), do: false

  # `a |> Enum.first(...) |> Enum.second(...)` and `Enum.first(...) |> Enum.second(...)`: the pipe's own line.
  defp pipe_pair(left, right, meta, first, second, short, msg) do
    first_ok = enum_call?(left, first) or pipe_ends_in?(left, first)
    if first_ok and enum_call?(right, second) and (second != :join or join_arity_ok?(right, 1)),
      do: issue(short, line(meta), msg, "|>")
  end

  # `Enum.second(Enum.first(...), ...)` (trigger named here) and `Enum.second(x |> Enum.first(...), ...)`.
  defp nested_pair("Enum", fun, [arg | rest], ameta, dmeta, first, second, short, msg, trigger) when fun == second and length(rest) <= 1 do
    cond do
      enum_call?(arg, first) and rest != [] -> issue(short, line(ameta), msg, trigger)
      pipe_ends_in?(arg, first) and rest != [] -> issue(short, line(dmeta), msg, "|>")
      true -> nil
    end
  end
  defp nested_pair(_, _, _, _, _, _, _, _, _, _), do: nil

  defp join_arity_ok?({_, _, args}, n), do: is_list(args) and length(args) <= n

  defp filter_count_pipe(left, right) do
    case right do
      {{:., dmeta, [{:__aliases__, _, [:Enum]}, :count]}, _, []} ->
        if enum_call?(left, :filter) or pipe_ends_in?(left, :filter),
          do: issue("Refactor.FilterCount", line(dmeta), "`Enum.count/2` is more efficient than `Enum.filter/2 |> Enum.count/1`.", "count")
      _ -> nil
    end
  end

  defp anon_call?({{:., _, [_]}, _, _}), do: true
  defp anon_call?(_), do: false

  defp negation({:!, _, _}), do: "!"
  defp negation({:not, _, _}), do: "not"
  defp negation(_), do: nil

  @nonspecial_ops [:+, :-, :*, :/, :==, :!=, :===, :!==, :<, :>, :<=, :>=, :&&, :||, :and, :or, :not, :!, :<>, :++, :--, :in, :|>, :=~]
  defp match_in_condition(op, cond_expr) do
    {_, acc} = Macro.prewalk(cond_expr, [], fn
      {:=, meta, [{name, _, nil}, rhs]} = n, acc when is_atom(name) ->
        top_level = n == cond_expr
        if top_level and not contains_ops?(rhs), do: {n, acc}, else: {n, [issue("Refactor.MatchInCondition", line(meta), "Avoid matches in `#{op}` conditions.", "=") | acc]}
      {:=, meta, _} = n, acc -> {n, [issue("Refactor.MatchInCondition", line(meta), "Avoid matches in `#{op}` conditions.", "=") | acc]}
      n, acc -> {n, acc}
    end)
    acc
  end

  defp contains_ops?({op, _, _}) when op in @nonspecial_ops, do: true
  defp contains_ops?({_, _, args}) when is_list(args), do: Enum.any?(args, &contains_ops?/1)
  defp contains_ops?(_), do: false

  defp raises(block) do
    {_, acc} = Macro.prewalk(block, [], fn
      {:raise, meta, _} = n, acc -> {n, [issue("Warning.RaiseInsideRescue", line(meta), "Use `reraise` inside a rescue block to preserve the original stacktrace.", "raise", meta[:column]) | acc]}
      n, acc -> {n, acc}
    end)
    acc
  end

  defp app_config(name, node) do
    {_, found} = Macro.prewalk(node, nil, fn
      {{:., _, [{:__aliases__, meta, [:Application]}, f]}, _, args} = n, nil when f in [:fetch_env, :fetch_env!, :get_all_env, :get_env] ->
        call = case f do
          :get_env -> "Application.get_env/#{length(args)}"
          :get_all_env -> "Application.get_all_env/1"
          other -> "Application.#{other}/2"
        end
        trigger = if f in [:fetch_env, :fetch_env!], do: "Application.fetch_env", else: "Application.#{f}"
        {n, {meta, call, trigger}}
      n, acc -> {n, acc}
    end)
    case found do
      {meta, call, trigger} ->
        issue("Warning.ApplicationConfigInModuleAttribute", line(meta), "Module attribute @#{name} makes use of unsafe Application configuration call #{call}", trigger, meta[:column])
      nil -> nil
    end
  end

  defp spec_structs(node) do
    {_, acc} = Macro.prewalk(node, [], fn
      {:%, meta, [{:__aliases__, _, parts}, _]} = n, acc ->
        s = Src.alias_text(parts)
        {n, [issue("Warning.SpecWithStruct", line(meta), "Struct %#{s}{} found in `@spec`.", "%#{s}{", meta[:column]) | acc]}
      n, acc -> {n, acc}
    end)
    acc
  end

  defp empty_enum_check(op, meta, lhs, rhs) do
    {pattern, other} = cond do
      empty_pattern(lhs) -> {lhs, rhs}
      empty_pattern(rhs) -> {rhs, lhs}
      true -> {nil, nil}
    end
    hit = pattern != nil and (other == 0 and op in [:==, :!=, :>, :<, :>=, :<=] or
                               (op == :>= and pattern == lhs and other == 1) or (op == :< and pattern == lhs and other == 1) or
                               (op == :<= and pattern == rhs and other == 1))
    if hit do
      {trigger, suggestion} = case pattern do
        {:length, _, _} -> {"length", "comparing against an empty list"}
        {_, _, [_, _]} -> {"Enum.count", "`not Enum.any?/2`"}
        _ -> {"Enum.count", "`Enum.empty?/1`"}
      end
      issue("Warning.ExpensiveEmptyEnumCheck", line(meta), "Using `#{trigger}/1` is expensive, prefer #{suggestion}.", trigger)
    end
  end

  defp empty_pattern({:length, _, [_]}), do: true
  defp empty_pattern({{:., _, [{:__aliases__, _, [:Enum]}, :count]}, _, _}), do: true
  defp empty_pattern(_), do: false

  defp alias_usage(mod, fun, ameta, _cmeta, ctx) do
    excluded_last = ~w(Access Agent Application Atom Base Behaviour Bitwise Code Date DateTime Dict Enum Exception File Float GenEvent GenServer HashDict HashSet
                       Integer IO Kernel Keyword List Macro Map MapSet Module NaiveDateTime Node OptionParser Path Port Process Protocol Range Record Regex
                       Registry Set Stream String StringIO Supervisor System Task Time Tuple URI Version)
    excluded_ns = ~w(File IO Inspect Kernel Macro Supervisor Task Version)
    names = Enum.map(mod, fn p -> if is_atom(p), do: Atom.to_string(p), else: "" end)
    if length(mod) >= 2 and Enum.all?(mod, &is_atom/1) and hd(names) not in excluded_ns and List.last(names) not in excluded_last and
         hd(names) != "Elixir" and not ctx.config.config_file? and is_atom(fun) do
      issue("Design.AliasUsage", line(ameta), "Nested modules could be aliased at the top of the invoking module.", Enum.join(names, "."), ameta[:column])
    end
  end

  defp erl_col(meta, text) do
    case meta[:column] do
      c when is_integer(c) -> max(1, c - String.length(text))
      _ -> nil
    end
  end

  defp var_or_attr?({a, _, nil}) when is_atom(a), do: true
  defp var_or_attr?({:@, _, l}) when is_list(l), do: true
  defp var_or_attr?(_), do: false

  defp contains_map?(ast) do
    {_, found} = Macro.prewalk(ast, false, fn
      {:%{}, _, _} = n, _ -> {n, true}
      n, acc -> {n, acc}
    end)
    found
  end

  defp node_last_line(node) do
    {_, l} = Macro.prewalk(node, 0, fn
      {_, meta, _} = n, acc when is_list(meta) -> {n, max(acc, Keyword.get(meta, :line, 0), Keyword.get(meta, :end, []) |> then(&if(is_list(&1), do: Keyword.get(&1, :line, 0), else: 0)))}
      n, acc -> {n, acc}
    end)
    l
  end

  defp max(a, b, c), do: Enum.max([a, b, c])

  def strip(ast), do: Macro.prewalk(ast, fn
    {a, meta, b} when is_list(meta) -> {a, [], b}
    x -> x
  end)

  defp snake_case?(s), do: Regex.match?(~r/^[[:lower:][:digit:]_]+[?!]?$/u, s) or s == ""
  defp pascal_case?(s), do: Regex.match?(~r/^[A-Z][a-zA-Z0-9]*$/, s)
  defp operator_name?(s), do: not Regex.match?(~r/^[a-zA-Z_]/, s)
end
