# ElixirCoder's tool server: one BEAM inside the user's Mix project (started by `mix run --no-start`,
# so the project's deps are on the code path) that runs `mix credo` / `mix sobelow` warm, request
# after request, instead of booting Mix and loading Credo for every file.
# Request: "<id>\t<task>\t<base64 standard input>\t<base64 arguments, one a line>".
# Answer: "EC\t<id>\t<exit status>\t<base64 of what the task printed>" (tagged: Mix prints its own
# compile messages on standard output while it boots).
defmodule ECToolServer do
  def loop do
    case IO.read(:stdio, :line) do
      :eof -> :ok
      {:error, _} -> :ok
      line ->
        case String.split(String.trim_trailing(line, "\n"), "\t") do
          [id, task, input, args] -> IO.puts("EC\t#{id}\t" <> answer(task, Base.decode64!(input), String.split(Base.decode64!(args), "\n", trim: true)))
          [id | _] -> IO.puts("EC\t#{id}\t2\t" <> Base.encode64("bad request"))
        end
        loop()
    end
  end

  # Runs the task in its own process whose group leader is a StringIO holding the standard input:
  # what the task prints is captured, and what it reads (Credo's --read-from-stdin) comes from it.
  defp answer(task, input, args) when task in ["credo", "sobelow"] do
    {:ok, io} = StringIO.open(input)
    parent = self()
    {pid, ref} =
      spawn_monitor(fn ->
        Process.group_leader(self(), io)
        Process.flag(:trap_exit, true)
        status = run(task, args)
        # Processes the task linked to (agents it started) go with it, so the next run starts clean.
        {:links, links} = Process.info(self(), :links)
        for p <- links, is_pid(p), p != parent, do: Process.exit(p, :kill)
        send(parent, {:status, self(), status})
      end)
    status =
      receive do
        {:status, ^pid, status} -> status
        {:DOWN, ^ref, :process, ^pid, reason} -> {1, "the task died: " <> inspect(reason)}
      end
    Process.demonitor(ref, [:flush])
    {_, printed} = StringIO.contents(io)
    StringIO.close(io)
    case status do
      {code, why} -> "#{code}\t" <> Base.encode64(printed <> "\n" <> why)
      code -> "#{code}\t" <> Base.encode64(printed)
    end
  end

  defp answer(task, _input, _args), do: "2\t" <> Base.encode64("unknown task #{task}")

  # Credo exits with {:shutdown, status} (a bit per category with issues); a raise is a failure.
  defp run(task, args) do
    try do
      Mix.Task.rerun(task, args)
      0
    rescue
      e -> {1, Exception.format(:error, e, __STACKTRACE__)}
    catch
      :exit, {:shutdown, code} when is_integer(code) -> code
      :exit, :normal -> 0
      kind, reason -> {1, Exception.format(kind, reason, __STACKTRACE__)}
    end
  end
end

ECToolServer.loop()
