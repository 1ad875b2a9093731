import Foundation

/// A strict reader of the Prometheus text exposition format (0.0.4), as a scraper reads it:
/// `# HELP` and `# TYPE` lines, then samples `name{label="value",...} value`. It refuses what a
/// scraper would refuse: a sample before its family's TYPE, an unknown type, a bad name, label
/// or value, a family declared twice, and histograms whose buckets fall or lack `+Inf`.
struct PrometheusText {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Family {
        var type: String
        var help: String?
        var samples: [Sample] = []
    }

    struct ParseError: Error, CustomStringConvertible {
        let line: Int
        let message: String
        var description: String { "line \(line): \(message)" }
    }

    private(set) var families: [String: Family] = [:]

    init(_ text: String) throws {
        guard text.hasSuffix("\n") else { throw ParseError(line: 0, message: "the text must end with a line feed") }
        var helps: [String: String] = [:]
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            let n = i + 1
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
                guard parts.count >= 3, parts[0] == "#", parts[1] == "HELP" || parts[1] == "TYPE" else { continue }
                let name = String(parts[2])
                guard Self.isName(name) else { throw ParseError(line: n, message: "bad metric name '\(name)'") }
                if parts[1] == "HELP" {
                    helps[name] = parts.count > 3 ? String(parts[3]) : ""
                } else {
                    let type = parts.count > 3 ? String(parts[3]) : ""
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(type) else { throw ParseError(line: n, message: "unknown type '\(type)'") }
                    guard families[name] == nil else { throw ParseError(line: n, message: "\(name) declared twice") }
                    families[name] = Family(type: type, help: helps[name])
                }
                continue
            }
            let sample = try Self.sample(String(line), line: n)
            guard let family = family(of: sample.name) else { throw ParseError(line: n, message: "\(sample.name) has no TYPE line before it") }
            families[family]!.samples.append(sample)
        }
        for (name, f) in families where f.type == "histogram" { try Self.checkHistogram(name, f) }
        for (name, f) in families where f.type == "counter" {
            if let bad = f.samples.first(where: { $0.value < 0 }) { throw ParseError(line: 0, message: "counter \(name) is negative: \(bad.value)") }
        }
    }

    /// The family a sample belongs to: its own name, or a histogram's with a `_bucket`, `_sum` or `_count` suffix.
    private func family(of sample: String) -> String? {
        if families[sample] != nil { return sample }
        for suffix in ["_bucket", "_sum", "_count"] where sample.hasSuffix(suffix) {
            let base = String(sample.dropLast(suffix.count))
            if let f = families[base], f.type == "histogram" || f.type == "summary" { return base }
        }
        return nil
    }

    /// The value of the sample `name` whose labels include `labels`; nil when there is none.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        guard let f = family(of: name) else { return nil }
        return families[f]!.samples.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
    }

    /// Every sample named `name`.
    func samples(_ name: String) -> [Sample] {
        family(of: name).map { f in families[f]!.samples.filter { $0.name == name } } ?? []
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    static func isName(_ s: String) -> Bool {
        let letter = { (c: Unicode.Scalar) in c == "_" || c == ":" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
        guard let first = s.unicodeScalars.first, letter(first) else { return false }
        return s.unicodeScalars.allSatisfy { letter($0) || ("0"..."9").contains($0) }
    }

    private static func sample(_ line: String, line n: Int) throws -> Sample {
        var rest = Substring(line)
        let nameEnd = rest.firstIndex { $0 == "{" || $0 == " " } ?? rest.endIndex
        let name = String(rest[..<nameEnd])
        guard isName(name) else { throw ParseError(line: n, message: "bad sample name '\(name)'") }
        rest = rest[nameEnd...]
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                guard let eq = rest.firstIndex(of: "=") else { throw ParseError(line: n, message: "a label has no '='") }
                let key = String(rest[..<eq])
                guard isName(key), !key.contains(":") else { throw ParseError(line: n, message: "bad label name '\(key)'") }
                rest = rest[rest.index(after: eq)...]
                guard rest.first == "\"" else { throw ParseError(line: n, message: "label \(key)'s value is not quoted") }
                rest = rest.dropFirst()
                var value = ""
                while true {
                    guard let c = rest.first else { throw ParseError(line: n, message: "label \(key)'s value does not end") }
                    rest = rest.dropFirst()
                    if c == "\"" { break }
                    if c == "\\" {
                        guard let e = rest.first else { throw ParseError(line: n, message: "a dangling backslash") }
                        rest = rest.dropFirst()
                        switch e {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw ParseError(line: n, message: "unknown escape \\\(e)")
                        }
                    } else {
                        value.append(c)
                    }
                }
                guard labels.updateValue(value, forKey: key) == nil else { throw ParseError(line: n, message: "label \(key) given twice") }
                if rest.first == "," { rest = rest.dropFirst() }
            }
            rest = rest.dropFirst()
        }
        let fields = rest.split(separator: " ")
        guard fields.count == 1 || fields.count == 2, rest.first == " " else { throw ParseError(line: n, message: "a sample needs one space, a value and at most a timestamp") }
        let text = String(fields[0])
        let value: Double? = switch text {
        case "+Inf": .infinity
        case "-Inf": -.infinity
        case "NaN": .nan
        default: Double(text)
        }
        guard let value else { throw ParseError(line: n, message: "'\(text)' is not a number") }
        return Sample(name: name, labels: labels, value: value)
    }

    private static func checkHistogram(_ name: String, _ f: Family) throws {
        let buckets = f.samples.filter { $0.name == name + "_bucket" }
        guard let inf = buckets.last, inf.labels["le"] == "+Inf" else { throw ParseError(line: 0, message: "\(name) has no +Inf bucket last") }
        var previous = (bound: -Double.infinity, count: 0.0)
        for b in buckets {
            guard let text = b.labels["le"], let bound = text == "+Inf" ? .infinity : Double(text) else { throw ParseError(line: 0, message: "\(name) bucket without a numeric le") }
            guard bound > previous.bound, b.value >= previous.count else { throw ParseError(line: 0, message: "\(name)'s buckets must rise: le=\(text)") }
            previous = (bound, b.value)
        }
        guard let count = f.samples.first(where: { $0.name == name + "_count" }), count.value == inf.value,
              f.samples.contains(where: { $0.name == name + "_sum" }) else {
            throw ParseError(line: 0, message: "\(name) needs _sum and a _count equal to its +Inf bucket")
        }
    }
}
