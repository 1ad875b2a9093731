defmodule DemoWeb.PageController do
  use DemoWeb, :controller

  def show(conn, %{"name" => name} = params) do
    title = String.upcase(params["title"] || "")
    render(conn, "show.html", name: name, title: title, safe: name, count: 3)
  end

  def plain(conn, _params) do
    render(conn, :plain, greeting: "hello")
  end
end
