# ElixirCoder's example-guided synthesizer: enumerates small compositions of standard-library
# functions, smallest first, and keeps those that give every example's expected value.
#
# Why: the default model rarely writes a working function, but many tasks are one or two library
# calls deep, and their examples pin the behaviour down. Programs are built bottom-up by size;
# two programs that give the same values on the examples and on a few probe inputs derived from
# them are the same for the search (observational equivalence), which keeps the pools small.
# Each program that gives the examples is returned with its size and how well its functions'
# names match the task's words; the caller ranks them.
#
# Loaded by compile_worker.exs and run there, inside the sandbox, in a process with a heap
# limit and a deadline like any candidate.
defmodule ECSynth do
  @max_size 7
  @max_solutions 40
  @max_pool 4_000
  # About what a searching process does per millisecond on a quiet 2-core AMD EPYC (it varies
  # with the size of the terms): the budget in milliseconds is a budget of work on that machine.
  @reductions_per_ms 6_000
  # 256 MiB of heap per searching process.
  @heap_words div(256 * 1024 * 1024, 8)

  # {name, argument kinds, function}. Kinds: :v a value, :c a constant, :f a one-argument
  # function, :g a two-argument function. General-purpose functions of the standard library.
  # {name, {module, function}, argument types}. Types: :i integer, :s string, :l list, :m map,
  # :t tuple, :e MapSet, :a anything. General-purpose functions of the standard library.
  @unary [
    {"Enum.sum", {Enum, :sum}, [:l]}, {"Enum.product", {Enum, :product}, [:l]}, {"Enum.reverse", {Enum, :reverse}, [:l]},
    {"Enum.sort", {Enum, :sort}, [:l]}, {"Enum.uniq", {Enum, :uniq}, [:l]}, {"Enum.dedup", {Enum, :dedup}, [:l]},
    {"Enum.max", {Enum, :max}, [:l]}, {"Enum.min", {Enum, :min}, [:l]}, {"length", {:erlang, :length}, [:l]},
    {"Enum.count", {Enum, :count}, [:m]}, {"Enum.frequencies", {Enum, :frequencies}, [:l]}, {"List.flatten", {List, :flatten}, [:l]},
    {"Enum.concat", {Enum, :concat}, [:l]}, {"Enum.zip", {Enum, :zip}, [:l]}, {"Enum.with_index", {Enum, :with_index}, [:l]},
    {"Map.keys", {Map, :keys}, [:m]}, {"Map.values", {Map, :values}, [:m]}, {"Map.new", {Map, :new}, [:l]},
    {"Map.to_list", {Map, :to_list}, [:m]}, {"List.first", {List, :first}, [:l]}, {"List.last", {List, :last}, [:l]},
    {"tl", {:erlang, :tl}, [:l]}, {"Integer.digits", {Integer, :digits}, [:i]}, {"Integer.undigits", {Integer, :undigits}, [:l]},
    {"Integer.to_string", {Integer, :to_string}, [:i]}, {"String.to_integer", {String, :to_integer}, [:s]}, {"abs", {:erlang, :abs}, [:i]},
    {"String.length", {String, :length}, [:s]}, {"String.reverse", {String, :reverse}, [:s]}, {"String.upcase", {String, :upcase}, [:s]},
    {"String.downcase", {String, :downcase}, [:s]}, {"String.capitalize", {String, :capitalize}, [:s]}, {"String.trim", {String, :trim}, [:s]},
    {"String.graphemes", {String, :graphemes}, [:s]}, {"String.split", {String, :split}, [:s]}, {"String.to_charlist", {String, :to_charlist}, [:s]},
    {"List.to_string", {List, :to_string}, [:l]}, {"Enum.join", {Enum, :join}, [:l]}, {"Tuple.to_list", {Tuple, :to_list}, [:t]},
    {"List.to_tuple", {List, :to_tuple}, [:l]}, {"MapSet.new", {MapSet, :new}, [:l]}, {"MapSet.to_list", {MapSet, :to_list}, [:e]},
    {"Base.encode16", {Base, :encode16}, [:s]}, {"Base.encode64", {Base, :encode64}, [:s]}, {"Enum.empty?", {Enum, :empty?}, [:l]},
    {"String.first", {String, :first}, [:s]}, {"String.last", {String, :last}, [:s]}, {":binary.bin_to_list", {:binary, :bin_to_list}, [:s]}
  ]

  # Idioms: a call with fixed arguments, as one node. {template, {module, function}, types}; $1,
  # $2 are the arguments in the template.
  @idioms [
    {"Enum.chunk_by($1, & &1)", {__MODULE__, :runs}, [:l]}, {"Enum.sort($1, :desc)", {__MODULE__, :sort_desc}, [:l]},
    {"elem($1, 0)", {__MODULE__, :first_of}, [:t]}, {"elem($1, 1)", {__MODULE__, :second_of}, [:t]},
    {"Enum.chunk_every($1, $2, 1, :discard)", {__MODULE__, :windows}, [:l, :i]},
    {"Enum.chunk_every($1, $2, $2, :discard)", {__MODULE__, :chunks}, [:l, :i]},
    {"Enum.map($1, &Tuple.to_list/1)", {__MODULE__, :tuples_to_lists}, [:l]},
    {"Map.merge($1, $2, fn _key, x, y -> x + y end)", {__MODULE__, :merge_sum}, [:m, :m]},
    {"Map.new($1, fn {key, value} -> {value, key} end)", {__MODULE__, :invert}, [:m]}
  ]
  # `Integer.mod` before `rem`: they agree on non-negative numbers, of two programs with the same
  # values the first is kept, and a task's "modulo" echoes `mod`; `rem`'s documentation says
  # "remainder", and so does `Integer.mod`'s.
  @binary [
    {"+", {:erlang, :+}, [:i, :i]}, {"-", {:erlang, :-}, [:i, :i]}, {"*", {:erlang, :*}, [:i, :i]}, {"div", {:erlang, :div}, [:i, :i]},
    {"Integer.mod", {Integer, :mod}, [:i, :i]}, {"rem", {:erlang, :rem}, [:i, :i]}, {"Integer.pow", {Integer, :pow}, [:i, :i]}, {"max", {:erlang, :max}, [:i, :i]},
    {"min", {:erlang, :min}, [:i, :i]}, {"==", {:erlang, :==}, [:a, :a]}, {"Integer.gcd", {Integer, :gcd}, [:i, :i]},
    {"Enum.take", {Enum, :take}, [:l, :i]}, {"Enum.drop", {Enum, :drop}, [:l, :i]}, {"Enum.at", {Enum, :at}, [:l, :i]},
    {"Enum.chunk_every", {Enum, :chunk_every}, [:l, :i]}, {"List.duplicate", {List, :duplicate}, [:a, :i]},
    {"String.duplicate", {String, :duplicate}, [:s, :i]}, {"Enum.join", {Enum, :join}, [:l, :s]}, {"String.split", {String, :split}, [:s, :s]},
    {"Integer.to_string", {Integer, :to_string}, [:i, :i]}, {"++", {:erlang, :++}, [:l, :l]}, {"<>", {__MODULE__, :concat}, [:s, :s]},
    {"Map.get", {Map, :get}, [:m, :a]}, {"Map.merge", {Map, :merge}, [:m, :m]}, {"Map.take", {Map, :take}, [:m, :l]},
    {"Map.drop", {Map, :drop}, [:m, :l]}, {"Enum.member?", {Enum, :member?}, [:l, :a]}, {"String.contains?", {String, :contains?}, [:s, :s]},
    {"String.starts_with?", {String, :starts_with?}, [:s, :s]}, {"String.ends_with?", {String, :ends_with?}, [:s, :s]},
    {"Enum.zip", {Enum, :zip}, [:l, :l]}, {"get_in", {Kernel, :get_in}, [:m, :l]}, {"MapSet.intersection", {MapSet, :intersection}, [:e, :e]},
    {"MapSet.union", {MapSet, :union}, [:e, :e]}, {"MapSet.difference", {MapSet, :difference}, [:e, :e]}, {"Enum.split", {Enum, :split}, [:l, :i]}
  ]

  # Functions that take a function or a constant: {name, {module, function}, kinds}, where a kind
  # is a value type, :c a constant, :f a one-argument function of the first argument's elements,
  # :g a two-argument function.
  @higher [
    {"Enum.map", {Enum, :map}, [:l, :f]}, {"Enum.filter", {Enum, :filter}, [:l, :f]}, {"Enum.reject", {Enum, :reject}, [:l, :f]},
    {"Enum.sort_by", {Enum, :sort_by}, [:l, :f]}, {"Enum.group_by", {Enum, :group_by}, [:l, :f]},
    {"Enum.frequencies_by", {Enum, :frequencies_by}, [:l, :f]}, {"Enum.flat_map", {Enum, :flat_map}, [:l, :f]},
    {"Enum.count", {Enum, :count}, [:l, :f]}, {"Enum.max_by", {Enum, :max_by}, [:l, :f]}, {"Enum.min_by", {Enum, :min_by}, [:l, :f]},
    {"Enum.uniq_by", {Enum, :uniq_by}, [:l, :f]}, {"Enum.chunk_by", {Enum, :chunk_by}, [:l, :f]}, {"Enum.find", {Enum, :find}, [:l, :f]},
    {"Enum.all?", {Enum, :all?}, [:l, :f]}, {"Enum.any?", {Enum, :any?}, [:l, :f]}, {"Map.new", {Map, :new}, [:l, :f]},
    {"Enum.map", {Enum, :map}, [:m, :f]}, {"Map.new", {Map, :new}, [:m, :f]}, {"Enum.filter", {Enum, :filter}, [:m, :f]},
    {"Enum.map_join", {Enum, :map_join}, [:l, :c, :f]}, {"Enum.zip_with", {Enum, :zip_with}, [:l, :l, :g]},
    {"Enum.reduce", {Enum, :reduce}, [:l, :g]}, {"Enum.scan", {Enum, :scan}, [:l, :g]},
    {"Enum.chunk_every", {Enum, :chunk_every}, [:l, :i, :i, :c]}, {"String.pad_leading", {String, :pad_leading}, [:s, :i, :c]},
    {"String.split", {String, :split}, [:s, :c]}, {"Enum.join", {Enum, :join}, [:l, :c]}, {"String.replace", {String, :replace}, [:s, :c, :c]},
    {"Map.update", {Map, :update}, [:m, :a, :a, :f]}
  ]

  # {source, {module, function}, the type of the first argument}.
  @two_argument [
    {"&+/2", {:erlang, :+}}, {"&*/2", {:erlang, :*}}, {"&-/2", {:erlang, :-}}, {"&max/2", {:erlang, :max}},
    {"&min/2", {:erlang, :min}}, {"&<>/2", {__MODULE__, :concat}}, {"&++/2", {:erlang, :++}}
  ]

  @value_types [:i, :s, :l, :m, :t, :e, :a]

  # Written infix, and counted as arithmetic rather than library calls.
  @operators ~w(+ - * == ++ <>)

  # Words of tasks that say what a library function's documentation says in other words ("the
  # total" is a sum). Few: "the smallest of the tied ones" would make `Enum.min` look meant.
  @synonyms %{"total" => "sum", "totals" => "sum"}

  # Words of nearly every task, which say nothing about what it does: "module" is not `Integer.mod`,
  # and "a function that takes two lists" is not `Map.take`.
  @boilerplate ~w(write module function implement takes)

  # The idioms' and operators' implementations, called through their captures.
  def runs(list), do: Enum.chunk_by(list, & &1)
  def sort_desc(list), do: Enum.sort(list, :desc)
  def first_of(tuple), do: elem(tuple, 0)
  def second_of(tuple), do: elem(tuple, 1)
  def windows(list, k), do: Enum.chunk_every(list, k, 1, :discard)
  def chunks(list, k), do: Enum.chunk_every(list, k, k, :discard)
  def tuples_to_lists(list), do: Enum.map(list, &Tuple.to_list/1)
  def merge_sum(a, b), do: Map.merge(a, b, fn _key, x, y -> x + y end)
  def invert(map), do: Map.new(map, fn {key, value} -> {value, key} end)
  def concat(a, b), do: a <> b

  # A term is {expr, values, size, uses, type}: `values` has one entry per input (the examples',
  # then the probes'), `uses` is the set of parameters the program reads, `type` the type of its
  # value on the first example. Arguments that are not programs (constants in :c positions,
  # functions) carry {:same, value} instead of a list of values.

  @doc "Programs of at most #{@max_size} nodes that give `spec.expected` on `spec.inputs`."
  def run(spec) do
    spec = Map.put_new(spec, :beyond, 1)
    spec = %{spec | words: spec.words -- @boilerplate}
    task_stems = spec.words |> Enum.flat_map(&[stem(&1) | List.wrap(@synonyms[&1])]) |> MapSet.new()
    n = length(spec.inputs)
    terms = if updated = updated_struct(spec), do: struct_updates(spec, updated), else: search(spec)

    terms
    |> Enum.filter(fn {_e, values, _s, uses, _t} -> MapSet.size(uses) > 0 and not constant?(Enum.drop(values, n)) end)
    |> Enum.map(fn {expr, values, size, uses, _t} ->
      parts = name_parts(expr)
      {described, undescribed} = described(expr, task_stems)
      %{source: source(expr, spec.params), size: size, unused: length(spec.params) - MapSet.size(uses), partial: partial(Enum.drop(values, n), spec.expected), literals: literals(expr),
        affinity: Enum.count(parts, fn part -> Enum.any?(spec.words, &related?(&1, part)) end), names: length(parts),
        described: described, undescribed: undescribed}
    end)
    |> Enum.uniq_by(& &1.source)
  end

  # The search itself: the terms that give the examples, smallest first found.
  defp search(spec) do
    inputs = spec.inputs ++ probes(spec.inputs)
    count = length(inputs)
    n = length(spec.inputs)
    constants = Enum.map(Enum.uniq([0, 1, " ", ""] ++ spec.constants), fn c -> term({:lit, c}, List.duplicate(c, count), 1, MapSet.new()) end)
    vars = for {name, i} <- Enum.with_index(spec.params), do: term({:var, name}, Enum.map(inputs, &Enum.at(&1, i)), 1, MapSet.new([i]))
    reads = field_leaves(spec.params, inputs) ++ option_leaves(spec.params, inputs, Map.get(spec, :options, []))
    leaves = vars ++ reads ++ constants
    demands = Map.get(spec, :demands, [])

    state = %{
      pools: Enum.group_by(leaves, fn t -> {1, elem(t, 4)} end),
      # Terms per pool, kept beside the pools so a full pool is seen without walking it.
      sizes: %{},
      seen: MapSet.new(leaves, &identity(&1, demands)),
      demands: demands,
      solutions: templates(vars ++ reads, n, spec.expected),
      n: n,
      count: count,
      goal: spec.expected,
      # The budget is work (reductions of the busier searching process), not time, so the same
      # request finds the same programs on a busy machine as on a quiet one. A wall-clock stop
      # at three times the budget still bounds the wait on a very busy one.
      # Half of it when the task demands a function: the other half may grow with only that.
      work: div(spec.budget_ms * @reductions_per_ms, if(demands == [], do: 1, else: 2)),
      deadline: System.monotonic_time(:millisecond) + 3 * spec.budget_ms,
      constants: Enum.map(constants, fn {e, [v | _], _, _, _} -> {e, {:same, v}, 1, MapSet.new(), nil} end) ++ [{{:lit, :discard}, {:same, :discard}, 1, MapSet.new(), nil}],
      functions: one_argument_functions(spec.constants) ++ parameter_functions(spec.params, inputs) ++ field_functions(spec.inputs),
      two: for({src, {m, f}} <- @two_argument, do: {{:fun, src}, {:same, Function.capture(m, f, 2)}, 1, MapSet.new(), nil})
    }

    {state, stopped_at} =
      try do
        # Once a size has a solution, `beyond` sizes more are searched for alternatives to rank.
        {Enum.reduce_while(2..@max_size, state, fn size, st ->
           sizes = Enum.map(st.solutions, &elem(&1, 2))
           if sizes != [] and size > Enum.min(sizes) + spec.beyond, do: {:halt, st}, else: {:cont, grow(st, size)}
         end), nil}
      catch
        {:stop, st} -> {st, st.pools |> Map.keys() |> Enum.map(&elem(&1, 0)) |> Enum.max()}
      end

    if stopped_at && demands != [] && not complete?(state, spec), do: demanded_growth(state, stopped_at, spec).solutions, else: state.solutions
  end

  # Whether a solution reads every parameter.
  defp complete?(st, spec), do: Enum.any?(st.solutions, fn {_, _, _, uses, _} -> MapSet.size(uses) == length(spec.params) end)

  # The first half of the budget ran out before a program with what the task demands was found:
  # the sizes left are grown with only the demanded functions (`MapSet.intersection`, then
  # `MapSet.to_list`), on the other half.
  defp demanded_growth(st, from, spec) do
    st = Map.merge(st, %{work: div(spec.budget_ms * @reductions_per_ms, 2), deadline: System.monotonic_time(:millisecond) + 2 * spec.budget_ms, only_demanded: true})
    try do
      Enum.reduce_while(from..@max_size, st, fn size, st -> if complete?(st, spec), do: {:halt, st}, else: {:cont, grow(st, size)} end)
    catch
      {:stop, st} -> st
    end
  end

  # When every example returns a struct of the module that an argument holds: that argument's
  # position and the fields some example changes.
  defp updated_struct(%{expected: [%{__struct__: module} | _] = expected} = spec) do
    with true <- Enum.all?(expected, &match?(%{__struct__: ^module}, &1)),
         i when is_integer(i) <- Enum.find_index(0..(length(spec.params) - 1)//1, fn i -> Enum.all?(spec.inputs, &match?(%{__struct__: ^module}, Enum.at(&1, i))) end) do
      fields = expected |> hd() |> Map.keys() |> Enum.reject(&(&1 == :__struct__)) |> Enum.sort()
      changed = Enum.filter(fields, fn f -> Enum.any?(Enum.zip(spec.inputs, expected), fn {args, v} -> Map.get(Enum.at(args, i), f) !== Map.get(v, f) end) end)
      if changed != [], do: {i, changed}
    else
      _ -> nil
    end
  end
  defp updated_struct(_spec), do: nil

  # A struct returned updated (`%{point | x: point.x + dx}`): each changed field is searched on its
  # own, with the budget shared. The one program kept per field reads that field of the argument
  # if one does, and the parameters named after the field (`dx` for `x`) if one does, then is
  # the smallest, then has the fewest constants: one example leaves many programs per field.
  defp struct_updates(spec, {i, changed}) do
    name = Enum.at(spec.params, i)
    per_field =
      for f <- changed do
        sub = %{spec | expected: Enum.map(spec.expected, &Map.get(&1, f)), budget_ms: div(spec.budget_ms, length(changed))}
        named = for {p, j} <- Enum.with_index(spec.params), j != i, String.contains?(p, Atom.to_string(f)), do: {:var, p}
        best =
          sub
          |> search()
          |> Enum.min_by(fn {e, _, size, _, _} -> {not reads?(e, {:field, name, f}), not Enum.all?(named, &reads?(e, &1)), size, library_calls(e), literals(e)} end, fn -> nil end)
        {f, best}
      end
    if Enum.any?(per_field, fn {_, best} -> is_nil(best) end) do
      []
    else
      inputs = spec.inputs ++ probes(spec.inputs)
      values =
        inputs
        |> Enum.with_index()
        |> Enum.map(fn {args, k} ->
          updates = Map.new(per_field, fn {f, {_, vs, _, _, _}} -> {f, Enum.at(vs, k)} end)
          if :ec_error in Map.values(updates), do: :ec_error, else: Map.merge(Enum.at(args, i), updates)
        end)
      size = 1 + Enum.sum(Enum.map(per_field, fn {_, t} -> elem(t, 2) end))
      uses = Enum.reduce(per_field, MapSet.new([i]), fn {_, t}, acc -> MapSet.union(acc, elem(t, 3)) end)
      [{{:update, name, Enum.map(per_field, fn {f, t} -> {f, elem(t, 0)} end)}, values, size, uses, :o}]
    end
  end

  # Calls other than arithmetic: `point.y + dy` is likelier meant than `Integer.gcd(dy, point.y)`.
  defp library_calls({{:call, name}, args}), do: if(name in @operators, do: 0, else: 1) + Enum.sum(Enum.map(args, &library_calls/1))
  defp library_calls(_), do: 0

  defp reads?(e, e), do: true
  defp reads?({{:call, _}, args}, leaf), do: Enum.any?(args, &reads?(&1, leaf))
  defp reads?({:template, parts}, leaf), do: Enum.any?(parts, &reads?(&1, leaf))
  defp reads?(_, _), do: false

  # Whether every example's result is one that few programs give by chance: a collection of two
  # or more different elements, or a string of four or more characters, that is not one of its
  # arguments. `[[1, 4], [2, 5], [3, 6]]` pins a program down; `12` or `true` does not.
  def informative?(inputs, expected) do
    expected != [] and Enum.all?(Enum.zip(inputs, expected), fn {args, v} -> rich?(v) and v not in args end)
  end

  defp rich?(v) when is_list(v), do: length(Enum.uniq(v)) >= 2
  defp rich?(%MapSet{} = v), do: MapSet.size(v) >= 2
  defp rich?(v) when is_map(v), do: map_size(v) >= 2
  defp rich?(v) when is_tuple(v), do: length(Enum.uniq(Tuple.to_list(v))) >= 2
  defp rich?(v) when is_binary(v), do: String.length(v) >= 4
  defp rich?(_), do: false

  # How many probe inputs the program answers with a value of another shape than the examples'
  # (a map of strings where they show a map of integers): a program that does the task answers
  # inputs like the examples' in kind. Failing on a probe is no sign: a probe may be outside what
  # the task accepts (a group size of 0).
  defp partial(probe_values, expected) do
    wanted = Enum.map(expected, &shape/1)
    Enum.count(probe_values, fn v -> v != :ec_error and not Enum.any?(wanted, &fits?(shape(v), &1)) end)
  end

  # Constants the program uses: of two programs that give the same values, the one built from
  # the task's inputs is likelier to be meant than the one built from constants.
  defp literals({:lit, _}), do: 1
  defp literals({:template, parts}), do: Enum.count(parts, &match?({:lit, _}, &1))
  defp literals({:update, _, fields}), do: fields |> Enum.map(fn {_, e} -> literals(e) end) |> Enum.sum()
  defp literals({{:call, _}, args}), do: args |> Enum.map(&literals/1) |> Enum.sum()
  defp literals(_), do: 0

  defp shape(v) when is_integer(v), do: :integer
  defp shape(v) when is_float(v), do: :float
  defp shape(v) when is_binary(v), do: :string
  defp shape(v) when is_atom(v), do: :atom
  defp shape([]), do: {:list, :any}
  defp shape([x | _]), do: {:list, shape(x)}
  defp shape(%MapSet{} = s), do: {:set, s |> Enum.take(1) |> Enum.map(&shape/1) |> List.first(:any)}
  defp shape(%{__struct__: module}), do: {:struct, module}
  defp shape(m) when is_map(m) and map_size(m) == 0, do: {:map, :any, :any}
  defp shape(m) when is_map(m), do: m |> Enum.at(0) |> then(fn {k, v} -> {:map, shape(k), shape(v)} end)
  defp shape(t) when is_tuple(t), do: {:tuple, tuple_size(t)}
  defp shape(_), do: :other

  # An empty collection fits any collection of the same kind.
  defp fits?(:any, _), do: true
  defp fits?(_, :any), do: true
  defp fits?({kind, a}, {kind, b}), do: fits?(a, b)
  defp fits?({:map, k1, v1}, {:map, k2, v2}), do: fits?(k1, k2) and fits?(v1, v2)
  defp fits?(a, b), do: a == b

  defp term(expr, values, size, uses), do: {expr, values, size, uses, type_of(hd(values))}

  defp type_of(v) when is_integer(v), do: :i
  defp type_of(v) when is_binary(v), do: :s
  defp type_of(v) when is_list(v), do: :l
  defp type_of(%MapSet{}), do: :e
  defp type_of(v) when is_map(v) and not is_struct(v), do: :m
  defp type_of(v) when is_tuple(v), do: :t
  defp type_of(_), do: :o

  defp constant?([]), do: false
  defp constant?([v | rest]), do: Enum.all?(rest, &(&1 === v))

  # Every new term of `size`: a library function applied to smaller terms of the right types.
  # The components are split between two processes (a machine has two cores at least), each
  # seeing only the smaller sizes; their terms are then merged, the first of equal values kept.
  defp grow(st, size) do
    components =
      Enum.map(@unary ++ @binary, fn {name, {m, f}, types} -> {name, Function.capture(m, f, length(types)), types} end) ++
        Enum.map(@idioms, fn {template, {m, f}, types} -> {{:template, template}, Function.capture(m, f, length(types)), types} end) ++
        Enum.map(@higher, fn {name, {m, f}, kinds} -> {name, Function.capture(m, f, length(kinds)), kinds} end)
    # What the task says to use is tried first at each size: the budget may end within one.
    demanded = fn {name, _, _} -> is_binary(name) and demanded?(name, st.demands) end
    components = if Map.get(st, :only_demanded), do: Enum.filter(components, demanded), else: Enum.sort_by(components, &(not demanded.(&1)))
    {evens, odds} = components |> Enum.with_index() |> Enum.split_with(fn {_, i} -> rem(i, 2) == 0 end)
    parts =
      [evens, odds]
      |> Enum.map(fn half -> spawn_monitor(fn -> exit({:grown, grow_part(st, size, Enum.map(half, &elem(&1, 0)))}) end) end)
      |> Enum.map(fn {pid, ref} ->
        receive do
          {:DOWN, ^ref, :process, ^pid, {:grown, part}} -> part
          # Killed at its heap cap: this size is too big to search, but smaller sizes stand.
          {:DOWN, ^ref, :process, ^pid, _} -> {:stopped, %{pools: %{}, solutions: []}, st.work}
        end
      end)
    merged = Enum.reduce(parts, st, fn {_, part, _}, acc -> merge(acc, part, size) end)
    merged = %{merged | work: st.work - Enum.max(Enum.map(parts, &elem(&1, 2)))}
    if Enum.any?(parts, &(elem(&1, 0) == :stopped)), do: throw({:stop, merged}), else: merged
  end

  # Only what is new comes back: the parent holds the rest already, and its heap is capped too.
  defp grow_part(st, size, components) do
    Process.flag(:max_heap_size, %{size: @heap_words, kill: true, error_logger: false})
    start = reductions()
    try do
      grown = Enum.reduce(components, Map.put(st, :limit, start + st.work), fn {name, fun, kinds}, acc -> apply_all(acc, size, name, fun, kinds) end)
      {:done, news(grown, st, size), reductions() - start}
    catch
      {:stop, part} -> {:stopped, news(part, st, size), reductions() - start}
    end
  end

  defp reductions, do: elem(Process.info(self(), :reductions), 1)

  defp news(part, st, size) do
    %{pools: Map.filter(part.pools, fn {{s, _type}, _} -> s == size end),
      solutions: Enum.take(part.solutions, length(part.solutions) - length(st.solutions))}
  end

  # Adds a part's new terms and solutions to `st`, skipping values `st` has already seen.
  defp merge(st, part, size) do
    st =
      Enum.reduce(Enum.reverse(part.solutions), st, fn {_, values, _, _, _} = t, acc ->
        if seen?(acc, t), do: acc, else: %{acc | seen: MapSet.put(acc.seen, identity(t, acc.demands)), solutions: [t | acc.solutions]}
      end)
    part.pools
    |> Enum.flat_map(fn {_, terms} -> Enum.reverse(terms) end)
    |> Enum.reduce(st, fn {_, _, _, _, type} = t, acc ->
      key = {size, type}
      if seen?(acc, t) or Map.get(acc.sizes, key, 0) >= @max_pool, do: acc, else: add(acc, key, t)
    end)
  end

  # Operations whose arguments can be swapped: only one order of argument sizes is tried.
  @commutative ~w(+ * max min == Integer.gcd MapSet.union MapSet.intersection)

  # Tries `fun` on every choice of arguments whose sizes add up to size - 1.
  defp apply_all(st, size, name, fun, kinds) do
    value_count = Enum.count(kinds, &(&1 in @value_types))
    budget = size - 1 - (length(kinds) - value_count)
    if budget < value_count do
      st
    else
      compositions(budget, value_count)
      |> Enum.reject(fn sizes -> name in @commutative and sizes != Enum.sort(sizes) end)
      |> Enum.reduce(st, fn sizes, acc -> choose(acc, name, fun, kinds, sizes, []) end)
    end
  end

  # Picks the arguments left to right, then evaluates.
  defp choose(st, name, fun, [], [], chosen), do: consider(st, name, fun, Enum.reverse(chosen))
  defp choose(st, name, fun, [kind | kinds], sizes, chosen) do
    {options, rest} =
      case kind do
        :c -> {st.constants, sizes}
        :g -> {st.two, sizes}
        :f -> {functions_for(st.functions, chosen, name), sizes}
        :a -> {Enum.flat_map(@value_types, &Map.get(st.pools, {hd(sizes), &1}, [])), tl(sizes)}
        type -> {Map.get(st.pools, {hd(sizes), type}, []), tl(sizes)}
      end
    Enum.reduce(options, st, fn t, acc -> choose(acc, name, fun, kinds, rest, [t | chosen]) end)
  end

  # The functions that keep or count elements by a yes-or-no test; the others are given values:
  # sorting or grouping by `&(&1 > 2)` fits examples by chance, it is rarely what a task means.
  @tested ~w(Enum.filter Enum.reject Enum.count Enum.find Enum.all? Enum.any? Enum.chunk_by)

  # One-argument functions that apply to the elements of the first argument.
  defp functions_for(functions, chosen, name) do
    role = if name in @tested, do: :test, else: :value
    element =
      case elem(List.last(chosen), 1) do
        # Map.update's function is given the value under a key.
        [m | _] when name == "Map.update" and is_map(m) -> m |> Map.values() |> List.first() |> type_of()
        [[x | _] | _] -> type_of(x)
        [m | _] when is_map(m) and not is_struct(m) -> :t
        _ -> :a
      end
    for {domain, r, t} <- functions, r == role, domain == :a or element == :a or domain == element, do: t
  end

  # Counts that would make a value huge before it could be judged too big, by the position of
  # the count among the arguments (a binary of 10^40 bytes is not caught by the heap limit: it
  # ends the whole VM).
  @counted %{"Integer.pow" => 1, "String.duplicate" => 1, "List.duplicate" => 1, "String.pad_leading" => 1}

  defp consider(st, name, fun, args) do
    if reductions() > st.limit or System.monotonic_time(:millisecond) > st.deadline or length(st.solutions) >= @max_solutions,
      do: throw({:stop, st})
    columns = Enum.map(args, &elem(&1, 1))
    if Map.has_key?(@counted, name) and not small_counts?(Enum.at(columns, @counted[name])), do: st, else: consider(st, name, fun, args, columns)
  end

  defp small_counts?({:same, n}), do: is_integer(n) and n in 0..64
  defp small_counts?(list), do: Enum.all?(list, &(is_integer(&1) and &1 in 0..64))

  defp consider(st, name, fun, args, columns) do
    case evaluate_all(fun, columns, st) do
      :error ->
        st
      values ->
        term = term({{:call, name}, Enum.map(args, &elem(&1, 0))}, values, 1 + Enum.sum(Enum.map(args, &elem(&1, 2))),
                    Enum.reduce(args, MapSet.new(), &MapSet.union(elem(&1, 3), &2)))
        key = {elem(term, 2), elem(term, 4)}
        cond do
          # Smaller programs come first, so the first program with these values is the one to keep.
          seen?(st, term) -> st
          Enum.take(values, st.n) === st.goal and meets_demands?(term, st.demands) -> %{st | seen: MapSet.put(st.seen, identity(term, st.demands)), solutions: [term | st.solutions]}
          Map.get(st.sizes, key, 0) >= @max_pool -> st
          true -> add(st, key, term)
        end
    end
  end

  # Two programs are the same for the search when they give the same values, and, where the
  # task tells the code to use `MapSet`, call the same number of what it demands: otherwise the
  # smaller program without `MapSet` would hide the one that does what was asked.
  defp identity({_, values, _, _, _}, []), do: values
  defp identity({expr, values, _, _, _}, demands), do: {demands_met(expr, demands), values}

  defp demands_met(expr, demands) do
    called = names(expr)
    Enum.count(demands, fn d -> Enum.any?(called, &demanded?(&1, [d])) end)
  end

  # `MapSet.new` answers the demand `MapSet`, and `Keyword.validate` the demand of that name.
  defp demanded?(name, demands), do: Enum.any?(demands, &(name == &1 or String.starts_with?(name, &1 <> ".")))

  # Only a program that calls all the task demands is a solution; the others may be parts of one.
  defp meets_demands?(_term, []), do: true
  defp meets_demands?({expr, _, _, _, _}, demands), do: demands_met(expr, demands) == length(demands)

  defp seen?(st, term), do: MapSet.member?(st.seen, identity(term, st.demands))

  defp add(st, key, term) do
    %{st | seen: MapSet.put(st.seen, identity(term, st.demands)), pools: Map.update(st.pools, key, [term], &[term | &1]), sizes: Map.update(st.sizes, key, 1, &(&1 + 1))}
  end

  # The program's value on every input; :error when it fails on an example (failing on a probe is
  # a behaviour like any other).
  defp evaluate_all(fun, columns, st) do
    columns = Enum.map(columns, fn {:same, v} -> List.duplicate(v, st.count); list -> list end)
    evaluate_rows(fun, Enum.zip_with(columns, & &1), 0, st.n, [])
  end

  defp evaluate_rows(_fun, [], _i, _n, acc), do: Enum.reverse(acc)
  defp evaluate_rows(fun, [args | rows], i, n, acc) do
    case evaluate(fun, args) do
      {:ok, v} -> evaluate_rows(fun, rows, i + 1, n, [v | acc])
      :error when i < n -> :error
      :error -> evaluate_rows(fun, rows, i + 1, n, [:ec_error | acc])
    end
  end

  defp evaluate(fun, args) do
    if :ec_error in args do
      :error
    else
      value = apply(fun, args)
      if small?(value), do: {:ok, value}, else: :error
    end
  catch
    # catch, not rescue: rescue would turn every Erlang error into an exception struct first.
    _, _ -> :error
  end

  # Values that stay cheap to compare: a program that builds huge ones is not what a task wants.
  defp small?(v) when is_integer(v), do: abs(v) < 1.0e40
  defp small?(v) when is_binary(v), do: byte_size(v) < 2_000
  defp small?(v) when is_list(v), do: length(v) < 500
  defp small?(%MapSet{} = v), do: MapSet.size(v) < 500
  defp small?(v) when is_map(v), do: map_size(v) < 500
  defp small?(v) when is_function(v), do: false
  defp small?(_), do: true

  # The ways to split `total` into `parts` positive sizes.
  defp compositions(total, 1), do: [[total]]
  defp compositions(total, parts), do: for(first <- 1..(total - parts + 1), rest <- compositions(total - first, parts - 1), do: [first | rest])

  # One-argument functions as {the type they apply to, :test for a yes-or-no test or :value,
  # term}: captures of the unary library functions and small lambdas over the constants.
  defp one_argument_functions(constants) do
    numbers = Enum.uniq(Enum.filter([1, 2, 10] ++ constants, &is_integer/1))
    strings = Enum.uniq(Enum.filter([" "] ++ constants, &is_binary/1))
    lambdas =
      Enum.flat_map(strings, fn c -> [{"&(&1 == #{inspect(c)})", &(&1 == c), :s, :test}, {"&(&1 != #{inspect(c)})", &(&1 != c), :s, :test}] end) ++
      [{"& &1", & &1, :a, :value}, {"&elem(&1, 0)", &elem(&1, 0), :t, :value}, {"&elem(&1, 1)", &elem(&1, 1), :t, :value},
       {"&(&1 != \"\")", &(&1 != ""), :s, :test}, {"fn {key, value} -> {value, key} end", fn {k, v} -> {v, k} end, :t, :value}] ++
        Enum.flat_map(numbers, fn c ->
          [{"&(&1 * #{c})", &(&1 * c), :i, :value}, {"&(&1 + #{c})", &(&1 + c), :i, :value}, {"&(&1 > #{c})", &(&1 > c), :i, :test},
           {"&(&1 < #{c})", &(&1 < c), :i, :test}, {"&(rem(&1, #{c}) == 0)", &(rem(&1, c) == 0), :i, :test}]
        end)
    for({name, {m, f}, [domain]} <- @unary, do: {domain, role(name), {{:fun, "&#{name}/1"}, {:same, Function.capture(m, f, 1)}, 1, MapSet.new(), nil}}) ++
      Enum.map(lambdas, fn {src, f, domain, role} -> {domain, role, {{:fun, src}, {:same, f}, 1, MapSet.new(), nil}} end)
  end

  defp role(name), do: if(String.ends_with?(name, "?"), do: :test, else: :value)

  # One-argument functions that compare with, or combine with, another parameter: "the scores
  # of at least `threshold`" filters with `&(&1 >= threshold)`, and a map's entries with
  # `fn {_key, value} -> value >= threshold end`. Their value differs per input, so they carry
  # one closure per input, and they read the parameter.
  defp parameter_functions(params, inputs) do
    for {name, i} <- Enum.with_index(params), column = Enum.map(inputs, &Enum.at(&1, i)),
        {src, make, domain, role} <- parameter_lambdas(name, column) do
      {domain, role, {{:fun, src}, Enum.map(column, make), 1, MapSet.new([i]), nil}}
    end
  end

  defp parameter_lambdas(p, column) do
    cond do
      Enum.all?(column, &is_integer/1) ->
        for {op, f} <- [{">=", &>=/2}, {">", &>/2}, {"<", &</2}, {"<=", &<=/2}] do
          [{"&(&1 #{op} #{p})", fn v -> &f.(&1, v) end, :i, :test}, {"fn {_key, value} -> value #{op} #{p} end", fn v -> fn {_, x} -> f.(x, v) end end, :t, :test}]
        end
        |> Enum.concat()
        |> Kernel.++([{"&(&1 * #{p})", fn v -> &(&1 * v) end, :i, :value}, {"&(&1 + #{p})", fn v -> &(&1 + v) end, :i, :value}])
      Enum.all?(column, &is_binary/1) ->
        [{"&(&1 == #{p})", fn v -> &(&1 == v) end, :a, :test}, {"&(&1 != #{p})", fn v -> &(&1 != v) end, :a, :test},
         {"&String.starts_with?(&1, #{p})", fn v -> &String.starts_with?(&1, v) end, :s, :test}]
      true ->
        []
    end
  end

  # Reading the fields of maps that arrive in a list (`[%{price: 250, qty: 2}]`): each field, and
  # the product of two numeric fields (a price times a quantity).
  defp field_functions(inputs) do
    maps = for args <- inputs, list when is_list(list) <- args, m when is_map(m) and not is_struct(m) <- list, do: m
    fields = maps |> Enum.flat_map(&Map.keys/1) |> Enum.uniq() |> Enum.filter(&is_atom/1) |> Enum.sort()
    numeric = Enum.filter(fields, fn k -> Enum.all?(maps, &is_number(Map.get(&1, k))) end)
    reads =
      for k <- fields do
        role = if Enum.all?(maps, &is_boolean(Map.get(&1, k))), do: :test, else: :value
        {"& &1.#{k}", &Map.fetch!(&1, k), role}
      end
    products = for a <- numeric, b <- numeric, a < b, do: {"&(&1.#{a} * &1.#{b})", &(Map.fetch!(&1, a) * Map.fetch!(&1, b)), :value}
    for {src, f, role} <- reads ++ products, do: {:m, role, {{:fun, src}, {:same, f}, 1, MapSet.new(), nil}}
  end

  # The fields of a struct argument (`book.title`) as leaves: a struct's fields are what a task
  # about it reads, and a struct has no library function to search.
  defp field_leaves(params, inputs) do
    for {name, i} <- Enum.with_index(params), column = Enum.map(inputs, &Enum.at(&1, i)),
        [%{__struct__: module} | _] <- [column], Enum.all?(column, &match?(%{__struct__: ^module}, &1)),
        field <- column |> hd() |> Map.keys() |> Enum.reject(&(&1 == :__struct__)) |> Enum.sort() do
      term({:field, name, field}, Enum.map(column, &Map.get(&1, field)), 1, MapSet.new([i]))
    end
  end

  # The options the task documents with their defaults ("`:greeting` (default \"Hello\")"), read
  # from a keyword-list argument as `Keyword.get(opts, :greeting, "Hello")`.
  defp option_leaves(_params, _inputs, []), do: []
  defp option_leaves(params, inputs, options) do
    for {name, i} <- Enum.with_index(params), column = Enum.map(inputs, &Enum.at(&1, i)),
        Enum.all?(column, &(is_list(&1) and Keyword.keyword?(&1))), Enum.any?(column, &(&1 != [])),
        {key, default, source} <- options do
      term({:option, name, key, source}, Enum.map(column, &Keyword.get(&1, key, default)), 1, MapSet.new([i]))
    end
  end

  # Strings built from arguments: every example's result cut into argument values (fields and
  # options included) and the text between them, `"\#{title} by \#{author} (\#{year})"`. The
  # cut covering most of the result with values is taken from the first example and kept when
  # it gives every example. Its size counts its parts and, once more, its fixed text: of
  # `"\#{greeting}, \#{name}!"` and `"\#{greeting}, \#{name}\#{punctuation}"` the second is smaller.
  defp templates(leaves, n, expected) do
    strings = for {_, values, _, _, _} = leaf <- leaves, texts = Enum.map(values, &text/1), Enum.all?(Enum.take(texts, n), &(&1 not in [nil, ""])), do: {leaf, texts}
    with [first | _] <- expected, true <- Enum.all?(expected, &is_binary/1), [_ | _] <- strings,
         parts when length(parts) > 1 <- cut(first, Enum.map(strings, fn {leaf, texts} -> {leaf, hd(texts)} end)),
         true <- Enum.any?(parts, &match?({:leaf, _}, &1)) do
      count = length(hd(strings) |> elem(1))
      values = for i <- 0..(count - 1), do: fill_in(parts, strings, i)
      uses = for({:leaf, {_, _, _, u, _}} <- parts, reduce: MapSet.new(), do: (acc -> MapSet.union(acc, u)))
      literals = Enum.count(parts, &match?({:lit, _}, &1))
      if Enum.take(values, n) === expected,
        do: [{{:template, Enum.map(parts, fn {:leaf, {e, _, _, _, _}} -> e; lit -> lit end)}, values, 1 + length(parts) + literals, uses, :s}],
        else: []
    else
      _ -> []
    end
  end

  defp text(v) when is_binary(v), do: v
  defp text(v) when is_integer(v), do: Integer.to_string(v)
  defp text(v) when is_atom(v) and v not in [nil, true, false], do: Atom.to_string(v)
  defp text(_), do: nil

  defp fill_in(parts, strings, i) do
    Enum.reduce_while(parts, "", fn
      {:lit, t}, acc -> {:cont, acc <> t}
      {:leaf, leaf}, acc ->
        case Enum.at(elem(List.keyfind(strings, leaf, 0), 1), i) do
          nil -> {:halt, :ec_error}
          t -> {:cont, acc <> t}
        end
    end)
  end

  # The cut of `s` into leaf values and fixed text that leaves the least text fixed, then has the
  # fewest parts; leaves are tried in order, so a parameter comes before a field or an option.
  defp cut(s, leaves) do
    size = byte_size(s)
    best =
      Enum.reduce((size - 1)..0//-1, %{size => {0, 0, []}}, fn pos, memo ->
        rest = binary_part(s, pos, size - pos)
        by_leaf =
          for {leaf, t} <- leaves, String.starts_with?(rest, t), {fixed, count, parts} = memo[pos + byte_size(t)],
              do: {fixed, count + 1, [{:leaf, leaf} | parts]}
        {fixed, count, parts} = memo[pos + 1]
        by_text =
          case parts do
            [{:lit, t} | more] -> {fixed + 1, count, [{:lit, binary_part(s, pos, 1) <> t} | more]}
            _ -> {fixed + 1, count + 1, [{:lit, binary_part(s, pos, 1)} | parts]}
          end
        Map.put(memo, pos, Enum.min_by([by_text | by_leaf], fn {f, c, _} -> {f, c} end))
      end)
    elem(best[0], 2)
  end

  # Inputs beside the examples': each argument varied in turn, so that programs that agree on
  # the examples but not in general are told apart.
  defp probes(inputs) do
    inputs
    |> Enum.flat_map(fn args ->
      for {arg, i} <- Enum.with_index(args), v <- variants(arg), do: List.replace_at(args, i, v)
    end)
    |> Enum.uniq()
    |> Kernel.--(inputs)
    |> Enum.take(4)
  end

  defp variants(n) when is_integer(n), do: [0, n * 3 + 7]
  defp variants(s) when is_binary(s), do: ["", s <> " " <> String.reverse(s)]
  defp variants([]), do: [[3, 1, 2]]
  defp variants(l) when is_list(l), do: [[], Enum.reverse(l) ++ l]
  defp variants(m) when is_map(m) and not is_struct(m), do: [%{}, Map.new(Enum.take(Map.to_list(m), 1))]
  defp variants(_), do: []

  # Parts of names that say what a value is, not what a program does: "integer" in the task and
  # in `String.to_integer` is no evidence that the program does the task.
  @generic ~w(integer string list map tuple atom float charlist binary bin new get put value values keys key)

  # The distinct words of the program's function names that say what it does.
  defp name_parts(expr) do
    expr
    |> names()
    |> Enum.flat_map(fn name -> Regex.scan(~r/(?<![A-Za-z])[a-z]{3,}/, name) |> List.flatten() end)
    |> Enum.reject(&(&1 in @generic))
    |> Enum.uniq()
  end

  # "sum" and "sums", "digit" and "digits": one starts with the other's first four letters.
  defp related?(word, part) do
    String.length(word) >= 3 and (String.starts_with?(word, String.slice(part, 0, 4)) or String.starts_with?(part, String.slice(word, 0, 4)))
  end

  defp names({{:call, {:template, source}}, args}), do: called(source) ++ Enum.flat_map(args, &names/1)
  defp names({{:call, name}, args}), do: [name | Enum.flat_map(args, &names/1)]
  defp names({:fun, source}), do: called(source)
  defp names({:template, parts}), do: Enum.flat_map(parts, &names/1)
  defp names({:update, _, fields}), do: Enum.flat_map(fields, fn {_, e} -> names(e) end)
  defp names({:option, _, _, _}), do: ["Keyword.get"]
  defp names(_), do: []

  # The functions a template or a function's source calls or captures (`&Enum.sum/1`), without
  # its keywords and atoms (`fn`, `end`, `:discard`).
  defp called(source), do: Regex.scan(~r/[A-Za-z_][\w.]*[?!]?(?=\(|\/\d)/, source) |> List.flatten()

  # What the library's own documentation says a function does, as word stems: a program whose
  # functions' documentation shares the task's words is likelier to be what the task means than
  # one that only happens to give the example's value. Read once per worker from the installed
  # Elixir's documentation chunks, nothing from outside.
  @documented [Enum, String, Integer, Map, MapSet, List, Kernel, Tuple, Base]

  def doc_index do
    case :persistent_term.get({__MODULE__, :docs}, nil) do
      nil ->
        index = build_doc_index()
        :persistent_term.put({__MODULE__, :docs}, index)
        index
      index ->
        index
    end
  end

  defp build_doc_index do
    stems =
      for m <- @documented, {:docs_v1, _, _, _, _, _, docs} <- [Code.fetch_docs(m)],
          {{kind, f, _}, _, _, %{"en" => text}, _} <- docs, kind in [:function, :macro], reduce: %{} do
        acc ->
          key = if m == Kernel, do: Atom.to_string(f), else: inspect(m) <> "." <> Atom.to_string(f)
          # The name's own words count even when short: `sum` and `max` say what they do.
          words = text |> String.split("\n\n") |> hd() |> text_stems() |> MapSet.union(name_stems(f))
          Map.update(acc, key, words, &MapSet.union(&1, words))
      end
    n = map_size(stems)
    df = stems |> Map.values() |> Enum.flat_map(&MapSet.to_list/1) |> Enum.frequencies()
    %{stems: stems, idf: Map.new(df, fn {s, c} -> {s, :math.log(n / c)} end)}
  end

  defp name_stems(f), do: f |> Atom.to_string() |> String.split(["_", "?", "!"], trim: true) |> Enum.filter(&(String.length(&1) >= 3)) |> stems()

  defp text_stems(text), do: ~r/[a-z]{4,}/ |> Regex.scan(String.downcase(text)) |> List.flatten() |> stems()

  defp stems(words), do: words |> Enum.reject(&(&1 in @generic)) |> MapSet.new(&stem/1)

  # "collapses" and "collapsed", "elements" and "element": the first five letters.
  defp stem(word), do: String.slice(word, 0, 5)

  # Functions that only reshape what other functions compute (apply a function to each element,
  # join lists, convert between tuples, lists and maps): a task rarely names them, so their
  # documentation need not echo it.
  @plumbing ~w(Enum.map Enum.map_join Enum.concat Tuple.to_list Map.new Map.to_list Keyword.get)

  # Stems rarer than this among the library's functions say what a function does; "returns"
  # or "given" (in most of them) say nothing.
  @informative :math.log(7)

  # How much of the task's wording the documentation of the program's functions carries (the
  # stems they share, each weighted by how rare it is among the library's functions, in tenths),
  # and how many of its functions share no informative stem with the task.
  defp described(expr, task_stems) do
    %{stems: docs, idf: idf} = doc_index()
    functions = expr |> names() |> Enum.uniq()
    per_function = Enum.map(functions, &MapSet.intersection(Map.get(docs, &1, MapSet.new()), task_stems))
    shared = Enum.reduce(per_function, MapSet.new(), &MapSet.union/2)
    {round(10 * Enum.sum(Enum.map(shared, &Map.get(idf, &1, 0.0)))),
     Enum.count(Enum.zip(functions, per_function), fn {name, stems} ->
       name not in @plumbing and not Enum.any?(stems, &(Map.get(idf, &1, 0.0) >= @informative))
     end)}
  end

  # The function's body: options are read into variables named after them first, when no
  # parameter has that name (`greeting = Keyword.get(opts, :greeting, "Hello")`).
  defp source(expr, params) do
    options = expr |> options() |> Enum.uniq()
    names = Enum.map(options, fn {:option, _, key, _} -> Atom.to_string(key) end)
    if options == [] or Enum.any?(names, &(&1 in params)) or length(Enum.uniq(names)) < length(names) do
      render(expr)
    else
      bindings = Enum.map(options, fn {:option, _, key, _} = o -> "#{key} = #{render(o)}\n" end)
      Enum.join(bindings) <> render(replace_options(expr))
    end
  end

  defp options({:option, _, _, _} = o), do: [o]
  defp options({:template, parts}), do: Enum.flat_map(parts, &options/1)
  defp options({{:call, _}, args}), do: Enum.flat_map(args, &options/1)
  defp options(_), do: []

  defp replace_options({:option, _, key, _}), do: {:var, Atom.to_string(key)}
  defp replace_options({:template, parts}), do: {:template, Enum.map(parts, &replace_options/1)}
  defp replace_options({{:call, name}, args}), do: {{:call, name}, Enum.map(args, &replace_options/1)}
  defp replace_options(e), do: e

  # Source text; a chain of two or more calls on a first argument reads as a pipeline.
  def render(expr) do
    case pipeline(expr) do
      {subject, [_, _ | _] = steps} -> Enum.join([render(subject) | Enum.map(steps, &step/1)], " |> ")
      _ -> flat(expr)
    end
  end

  defp pipeline({{:call, name}, [first | rest]}) when name not in @operators do
    {subject, steps} = pipeline(first)
    {subject, steps ++ [{name, rest}]}
  end
  defp pipeline(e), do: {e, []}

  # One call of a pipeline, its first argument left out.
  defp step({{:template, template}, rest}), do: fill(String.replace(template, ~r/\(\$1(, )?/, "(", global: false), rest, 2)
  defp step({name, rest}), do: "#{name}(#{Enum.map_join(rest, ", ", &render/1)})"

  defp flat({{:call, op}, [a, b]}) when op in @operators, do: "#{operand(a)} #{op} #{operand(b)}"
  defp flat({{:call, {:template, template}}, args}), do: fill(template, args, 1)
  defp flat({{:call, name}, args}), do: "#{name}(#{Enum.map_join(args, ", ", &render/1)})"
  defp flat({:var, name}), do: name
  defp flat({:lit, v}), do: inspect(v)
  defp flat({:fun, src}), do: src
  defp flat({:field, name, field}), do: "#{name}.#{field}"
  defp flat({:update, name, fields}), do: "%{#{name} | " <> Enum.map_join(fields, ", ", fn {f, e} -> "#{f}: #{render(e)}" end) <> "}"
  defp flat({:option, name, key, default}), do: "Keyword.get(#{name}, #{inspect(key)}, #{default})"
  defp flat({:template, parts}) do
    inner = Enum.map_join(parts, fn {:lit, t} -> t |> inspect() |> String.slice(1..-2//1); e -> "\#{" <> render(e) <> "}" end)
    ~s("#{inner}")
  end

  # The template with $first, $first+1, ... replaced by the rendered arguments.
  defp fill(template, args, first) do
    args
    |> Enum.with_index(first)
    |> Enum.reduce(template, fn {arg, i}, text -> String.replace(text, "$#{i}", render(arg)) end)
  end

  defp operand({{:call, op}, _} = e) when op in @operators, do: "(#{render(e)})"
  defp operand(e), do: render(e)
end
