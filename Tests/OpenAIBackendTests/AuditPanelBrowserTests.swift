import Foundation
import Testing

@Suite("the audit panel in headless Chromium", .serialized)
struct AuditPanelBrowserTests {
    /// What the page shows, read from its DOM.
    static let shown = """
        JSON.stringify({
          bars: Object.fromEntries([...document.querySelectorAll('#histogram rect.bar')].map(r => [r.dataset.bin, Number(r.dataset.count)])),
          heights: [...document.querySelectorAll('#histogram rect.bar')].map(r => Number(r.getAttribute('height'))),
          decisions: Object.fromEntries([...document.querySelectorAll('#decisions li')].map(li => [li.dataset.decision, Number(li.dataset.count)])),
          statuses: Object.fromEntries([...document.querySelectorAll('#statuses li')].map(li => [li.dataset.status, Number(li.dataset.count)])),
          rows: [...document.querySelectorAll('#recent tbody tr')].map(tr => tr.dataset.requestId),
          cells: [...document.querySelectorAll('#recent tbody tr')].map(tr => [...tr.cells].map(td => td.textContent)),
          text: Object.fromEntries(['count', 'avg-latency', 'p95-latency', 'success-rate', 'error-count', 'confidence-mean', 'active-model']
                                     .map(id => [id, document.getElementById(id).textContent]))
        })
        """

    @Test("the panel shows the API's figures, lists new requests newest first without a reload, and shows an error until the server is back")
    func panel() async throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("ec-audit-panel-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        print("audit panel screenshots and the browser's log: \(out.path)")

        var server = try HTTPServeProcess(AuditAPITests.quiet)
        defer { _ = server.stop() }
        try await server.ready()
        let api = APIClient(base: server.url)
        // One answer the model wrote (it has a confidence for the histogram), one the library search verified.
        var ids: [String] = []
        for task in [AuditTasks.greeter, AuditTasks.digitSum] {
            let answer = try await api.post("/api/v1/generate", AuditTasks.request(task))
            #expect(answer.status == 200, "\(answer.text.prefix(300))")
            ids.append(try #require(answer.object["requestID"] as? String))
        }

        let browser = try HeadlessChromium(log: out.appendingPathComponent("chromium.log"))
        defer { browser.quit() }
        try browser.open(server.url.absoluteString + "/?interval=1")
        try await browser.wait(for: "document.querySelectorAll('#recent tbody tr').length === 2", within: 20, "the recent table to fill")

        // The figures a person sees are the API's.
        let summary = try await api.get("/api/v2/models/audit/summary").object
        let registry = try await api.get("/api/v2/models/registry").object
        let page = try #require(try browser.json(Self.shown) as? [String: Any])
        let bars = try #require(page["bars"] as? [String: Int])
        let histogram = try #require(summary["confidenceHistogram"] as? [String: Int])
        #expect(bars == histogram)
        #expect(histogram.values.reduce(0, +) >= 1, "the model's answer has a confidence")
        // A bar is drawn exactly where there is a count, the tallest for the largest.
        let heights = try #require(page["heights"] as? [Double])
        let counts = ["0.0-0.2", "0.2-0.4", "0.4-0.6", "0.6-0.8", "0.8-1.0"].map { histogram[$0] ?? -1 }
        #expect(zip(heights, counts).allSatisfy { ($0 > 0) == ($1 > 0) })
        #expect(heights.firstIndex(of: heights.max()!) == counts.firstIndex(of: counts.max()!))
        #expect(page["decisions"] as? [String: Int] == summary["decisions"] as? [String: Int])
        #expect(page["statuses"] as? [String: Int] == summary["statuses"] as? [String: Int])
        let text = try #require(page["text"] as? [String: String])
        #expect(text["count"] == "2")
        #expect(text["avg-latency"] == "\(Int((summary["avgLatencyMs"] as! Double).rounded())) ms")
        #expect(text["p95-latency"] == "\(Int((summary["p95LatencyMs"] as! Double).rounded())) ms")
        #expect(text["success-rate"] == String(format: "%.1f%%", (summary["successRate"] as! Double) * 100))
        #expect(text["error-count"] == "\(summary["errorCount"] as! Int)")
        #expect(text["confidence-mean"] == String(format: "%.3f", summary["confidenceMean"] as! Double))
        #expect(text["active-model"] == registry["activeVersion"] as? String)
        // Newest first, with each request's task hash and status.
        #expect(page["rows"] as? [String] == ids.reversed())
        let recent = try await api.get("/api/v2/models/audit/recent?limit=25").array
        let cells = try #require(page["cells"] as? [[String]])
        #expect(cells.map { $0[1] } == recent.map { String(($0["promptSHA256"] as! String).prefix(12)) })
        #expect(cells.map { $0[2] } == recent.map { $0["checkOutcome"] as! String })

        try browser.screenshot(to: out.appendingPathComponent("panel-1280x800.png"))
        // Narrow: nothing wider than the window but the table, which scrolls in its own box.
        try browser.resize(width: 390, height: 844)
        #expect(try browser.evaluate("document.documentElement.scrollWidth <= 390") as? Bool == true)
        try browser.screenshot(to: out.appendingPathComponent("panel-390x844.png"))
        try browser.resize(width: 1280, height: 800)

        // Polling picks a new request up in the same document.
        _ = try browser.evaluate("window.sameDocument = true")
        let third = try await api.post("/api/v1/generate", AuditTasks.request(AuditTasks.listSum))
        let thirdID = try #require(third.object["requestID"] as? String)
        try await browser.wait(for: "document.querySelector('#recent tbody tr').dataset.requestId === '\(thirdID)'", within: 10, "the new request at the top")
        #expect(try browser.evaluate("window.sameDocument === true && document.querySelectorAll('#recent tbody tr').length === 3") as? Bool == true)

        // Stopped, the page leaves a new request out until Refresh; then polling starts again.
        _ = try browser.evaluate("document.getElementById('poll-toggle').click()")
        #expect(try browser.evaluate("document.getElementById('poll-indicator').className + ' ' + document.getElementById('poll-toggle').textContent") as? String == "stopped Start")
        let fourth = try await api.post("/api/v1/generate", AuditTasks.request(AuditTasks.digitSum))
        let fourthID = try #require(fourth.object["requestID"] as? String)
        try await Task.sleep(for: .milliseconds(2500))
        #expect(try browser.evaluate("document.querySelector('#recent tbody tr').dataset.requestId") as? String == thirdID, "no polling while stopped")
        _ = try browser.evaluate("document.getElementById('refresh').click()")
        try await browser.wait(for: "document.querySelector('#recent tbody tr').dataset.requestId === '\(fourthID)'", within: 10, "Refresh to show the request")
        _ = try browser.evaluate("document.getElementById('poll-toggle').click()")
        #expect(try browser.evaluate("document.getElementById('poll-indicator').className") as? String == "polling")

        // The server stops: the error state. It comes back on the same port: Retry recovers.
        let port = server.port
        #expect(server.stop() == 0)
        try await browser.wait(for: "document.body.classList.contains('failed') && getComputedStyle(document.getElementById('error')).display === 'block'",
                               within: 10, "the error state")
        try browser.screenshot(to: out.appendingPathComponent("panel-server-stopped.png"))
        server = try HTTPServeProcess(AuditAPITests.quiet, port: port)
        try await server.ready()
        _ = try browser.evaluate("document.getElementById('retry').click()")
        try await browser.wait(for: "!document.body.classList.contains('failed')", within: 10, "the panel to recover")
        // A new server process starts with an empty audit buffer.
        #expect(try browser.evaluate("document.getElementById('count').textContent === '0' && document.querySelectorAll('#recent tbody tr').length === 0") as? Bool == true)
        try browser.screenshot(to: out.appendingPathComponent("panel-recovered.png"))
    }
}
