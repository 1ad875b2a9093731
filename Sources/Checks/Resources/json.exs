# A JSON encoder shared by the checker and the compile worker (Elixir 1.14 has no JSON module).
defmodule ECJson do
  def encode(nil), do: "null"
  def encode(true), do: "true"
  def encode(false), do: "false"
  def encode(v) when is_atom(v), do: encode(Atom.to_string(v))
  def encode(v) when is_integer(v), do: Integer.to_string(v)
  def encode(v) when is_float(v), do: Float.to_string(v)
  def encode(v) when is_binary(v) do
    escaped =
      for <<c::utf8 <- v>>, into: "" do
        case c do
          ?" -> "\\\""
          ?\\ -> "\\\\"
          ?\n -> "\\n"
          ?\r -> "\\r"
          ?\t -> "\\t"
          c when c < 0x20 -> "\\u" <> String.pad_leading(Integer.to_string(c, 16), 4, "0")
          c -> <<c::utf8>>
        end
      end
    "\"" <> escaped <> "\""
  end
  def encode(v) when is_list(v), do: "[" <> Enum.map_join(v, ",", &encode/1) <> "]"
  def encode(v) when is_map(v),
    do: "{" <> Enum.map_join(v, ",", fn {k, val} -> encode(to_string(k)) <> ":" <> encode(val) end) <> "}"
  def encode(v), do: encode(inspect(v))
end
