import Foundation

/// One decode step of one slot as a chain of named stages, in the spirit of llama.cpp's sampler
/// chain: the `apply` stages act on the logits before a token is drawn, the draw takes the
/// processor's mask and the sampler, and the `accept` stages take the drawn token into the
/// slot. Any stage can end the step early with its own event (a rollback, the end of text).
extension DecodeBatch {
    /// Stages that act on the logits, before the draw.
    enum ApplyStage: CaseIterable {
        /// NaN or infinite logits end the slot (a broken model or kernel, never sampled from).
        case rejectInvalidLogits
        /// Tokens that led out of this position before a rollback are masked, and at the first
        /// position the request's `bannedAtStart`.
        case banTokens
    }

    /// Stages that act on the drawn token, in order.
    enum AcceptStage: CaseIterable {
        /// The monitor strikes out a draw that kills the prefix and takes the next from the same distribution.
        case vetDraw
        /// Before the grammar's first closing token, the line it will finish is judged once.
        case judgeBeforeClosing
        /// Shadow repair: a low-confidence draw is redrawn with stricter sampling.
        case repairLowConfidence
        /// An end-of-text token ends the slot.
        case endOfText
        /// The token joins the slot's tokens and text.
        case append
        /// A finished line that the monitor finds dead rolls back to the last checkpoint.
        case judgeLine
        /// The repetition guard raises the penalties, then ends a loop.
        case repetitionGuard
        /// A line end (or the first token) becomes the point to roll back to.
        case checkpoint
        /// Stop strings, the token limit, the context's end and a complete program end the slot.
        case finishReason
    }

    /// The draw and what the accept stages add to it.
    struct Draw {
        let slot: Slot
        let logits: UnsafeMutableBufferPointer<Float>
        var token: GeneratedToken
        /// The processor as it was before this draw (a struck-out draw must not advance it).
        let processorBefore: (any LogitsProcessor)?
        /// For shadow repair: the raw logits and the sampler's state before the draw.
        let beforeDraw: (raw: [Float], sampler: Sampler, processor: (any LogitsProcessor)?)?
        /// Whether the processor was closing the output after this draw.
        let closing: Bool
        var repair: TokenRepair?
        var delta = ""

        /// Draws from `logits` with the slot's processor and sampler.
        init(slot s: Slot, logits: UnsafeMutableBufferPointer<Float>) {
            slot = s
            self.logits = logits
            // A repair branch redraws from the same distribution, so keep it and the sampler's state.
            beforeDraw = s.request.repair.mode == .shadow ? (Array(logits), s.sampler, s.processor) : nil
            processorBefore = s.processor
            token = s.sampler.sample(logits, processor: &s.processor)
            closing = s.processor?.isClosing ?? false
        }
    }

    /// Runs the chain for one slot's logits.
    func advance(_ s: Slot, logits: UnsafeMutableBufferPointer<Float>) -> Event {
        for stage in ApplyStage.allCases {
            if let end = apply(stage, s, logits) { return end }
        }
        var draw = Draw(slot: s, logits: logits)
        for stage in AcceptStage.allCases {
            if let end = accept(stage, &draw) { return end }
        }
        return Event(slot: s, token: draw.token, delta: draw.delta, repair: draw.repair)
    }

    private func apply(_ stage: ApplyStage, _ s: Slot, _ logits: UnsafeMutableBufferPointer<Float>) -> Event? {
        switch stage {
        case .rejectInvalidLogits:
            guard Self.hasInvalid(logits) else { return nil }
            s.finish = .invalidLogits
            return Event(slot: s, token: nil, delta: s.text.flush())
        case .banTokens:
            if let b = s.banned, b.at == s.tokens.count {
                for t in b.tokens where t < logits.count { logits[t] = -.infinity }
            }
            if s.tokens.isEmpty {
                for t in s.request.bannedAtStart where t < logits.count { logits[t] = -.infinity }
            }
            return nil
        }
    }

    private func accept(_ stage: AcceptStage, _ d: inout Draw) -> Event? {
        let s = d.slot
        let policy = s.request.repair
        switch stage {
        case .vetDraw:
            guard let monitor = s.monitor, !d.closing else { return nil }
            var tries = 0
            while tries < s.request.maxRejectionsPerToken {
                let ending = tokenizer.eosTokens.contains(d.token.id)
                guard ending || s.request.monitorEveryDraw else { break }
                let candidate = s.text.text + (ending ? "" : String(decoding: tokenizer.tokenBytes[d.token.id], as: UTF8.self))
                guard case .dead = monitor.verdict(for: candidate, final: ending) else { break }
                d.logits[d.token.id] = -.infinity
                s.sampler.truncateHistory(to: s.sampler.history.count - 1)
                // The processor saw the rejected draw; it must not keep it.
                s.processor = d.processorBefore
                s.rejected += 1
                tries += 1
                d.token = s.sampler.sample(d.logits, processor: &s.processor)
            }
            return nil
        case .judgeBeforeClosing:
            // Closing writes the rest of the program without the monitor, so the line it will
            // finish is judged once, before the first closing token; a dead one goes back to its start.
            guard d.closing, !s.judgedBeforeClosing, let monitor = s.monitor, s.canRollBack else { return nil }
            s.judgedBeforeClosing = true
            return rollBackIfDead(s, monitor)
        case .repairLowConfidence:
            if let before = d.beforeDraw, expf(d.token.logprob) < policy.threshold, !tokenizer.eosTokens.contains(d.token.id),
               s.repairs.count < policy.maxLiveRepairs, s.tokens.count - s.lastRepairAt > policy.cooldownTokens {
                d.repair = repair(s, token: &d.token, raw: before.raw, sampler: before.sampler, processor: before.processor)
            }
            return nil
        case .endOfText:
            s.last = d.token.id
            guard tokenizer.eosTokens.contains(d.token.id) else { return nil }
            s.finish = .endOfText
            return Event(slot: s, token: d.token, delta: s.text.flush())
        case .append:
            s.append(d.token)
            d.delta = s.text.append(tokenizer.tokenBytes[d.token.id])
            return nil
        case .judgeLine:
            guard let monitor = s.monitor, s.text.stoppedAt == nil, !d.closing, tokenizer.tokenBytes[d.token.id].contains(10) else { return nil }
            return rollBackIfDead(s, monitor)
        case .repetitionGuard:
            if policy.mode != .off, s.repetition.hit(text: s.text.bytes, tokens: s.tokens.map(\.id)) {
                s.repetitionHits += 1
                s.sampler.parameters.frequencyPenalty += policy.penaltyStep
                s.sampler.parameters.presencePenalty += policy.penaltyStep
                if s.repetitionHits >= policy.repeatHitsStopThreshold { s.finish = .repetition }
            }
            return nil
        case .checkpoint:
            if s.checkpoint == nil || tokenizer.tokenBytes[d.token.id].contains(10) {
                s.checkpoint = (s.tokens.count, s.sequence.length, d.token.id, s.text.bytes.count, s.processor)
            }
            return nil
        case .finishReason:
            if s.finish != nil {
                // The repetition guard ended it.
            } else if s.text.stoppedAt != nil {
                s.finish = .stop
            } else if s.tokens.count >= s.request.maxTokens || s.sequence.length + 1 >= context.model.config.contextLength {
                s.finish = .length
            } else if s.processor?.isComplete == true {
                s.finish = .complete
            }
            if s.finish != nil { d.delta += s.text.flush() }
            return nil
        }
    }

    /// Rolls the slot back to its checkpoint when the monitor finds its text dead.
    private func rollBackIfDead(_ s: Slot, _ monitor: any PrefixMonitor) -> Event? {
        guard case .dead = monitor.verdict(for: s.text.text, final: false) else { return nil }
        s.rollBack()
        return Event(slot: s, token: nil, delta: "")
    }
}
