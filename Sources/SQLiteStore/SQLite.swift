import CSQLite
import Foundation

/// An SQLite error with the database's own message.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public var description: String { message }

    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }
}

/// A value bound to or read from a statement.
public enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)

    public var int: Int64? { if case .int(let v) = self { v } else if case .double(let d) = self { Int64(d) } else { nil } }
    public var double: Double? { if case .double(let v) = self { v } else if case .int(let i) = self { Double(i) } else { nil } }
    public var text: String? { if case .text(let v) = self { v } else { nil } }
}

/// One SQLite connection. Not thread-safe: each owner (the log writer, a reader) opens its own.
public final class SQLiteConnection {
    private var db: OpaquePointer?
    public let path: String

    /// SQLite's destructor constant that makes it copy bound text.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            db = nil
            throw SQLiteError(code: rc, message: "\(path): cannot open database (\(message))")
        }
        // Another process (the server, a `stats` reader) may hold a lock for a moment.
        sqlite3_busy_timeout(db, 2000)
    }

    deinit { sqlite3_close_v2(db) }

    /// Runs one or more statements without results.
    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let message = err.map { String(cString: $0) } ?? "error \(rc)"
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: "\(path): \(message)")
        }
    }

    /// Runs a statement with parameters; returns all rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [SQLValue] = []) throws -> [[SQLValue]] {
        let statement = try prepare(sql)
        defer { sqlite3_finalize(statement) }
        try bind(parameters, to: statement)
        return try rows(of: statement)
    }

    /// Runs one statement for many parameter rows, reusing the prepared statement.
    public func executeMany(_ sql: String, _ rows: [[SQLValue]]) throws {
        let statement = try prepare(sql)
        defer { sqlite3_finalize(statement) }
        for parameters in rows {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
            try bind(parameters, to: statement)
            _ = try self.rows(of: statement)
        }
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }
    public var changes: Int { Int(sqlite3_changes(db)) }

    /// Runs `body` in a transaction; rolls back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    private func prepare(_ sql: String) throws -> OpaquePointer? {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        guard rc == SQLITE_OK else { throw error(rc) }
        return statement
    }

    private func bind(_ parameters: [SQLValue], to statement: OpaquePointer?) throws {
        for (i, p) in parameters.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch p {
            case .null: rc = sqlite3_bind_null(statement, index)
            case .int(let v): rc = sqlite3_bind_int64(statement, index, v)
            case .double(let v): rc = sqlite3_bind_double(statement, index, v)
            case .text(let v): rc = sqlite3_bind_text(statement, index, v, -1, Self.transient)
            }
            guard rc == SQLITE_OK else { throw error(rc) }
        }
    }

    private func rows(of statement: OpaquePointer?) throws -> [[SQLValue]] {
        var out: [[SQLValue]] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return out }
            guard rc == SQLITE_ROW else { throw error(rc) }
            let n = sqlite3_column_count(statement)
            out.append((0..<n).map { c in
                switch sqlite3_column_type(statement, c) {
                case SQLITE_INTEGER: .int(sqlite3_column_int64(statement, c))
                case SQLITE_FLOAT: .double(sqlite3_column_double(statement, c))
                case SQLITE_NULL: .null
                default: .text(String(cString: sqlite3_column_text(statement, c)))
                }
            })
        }
    }

    private func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: "\(path): \(String(cString: sqlite3_errmsg(db)))")
    }
}
