//! Diesel table definitions for the catalog. The migrations under
//! `migrations/{postgres,sqlite}` create exactly these tables on each backend.

diesel::table! {
    audit_entries (entry_id) {
        entry_id -> Text,
        hotkey -> Text,
        block -> BigInt,
        path -> Text,
        source -> Text,
        created_at -> Timestamp,
        start_time -> Timestamp,
        end_time -> Timestamp,
        state -> Text,
        unverifiable -> Bool,
        reject_reason -> Nullable<Text>,
        report_sha256 -> Nullable<Text>,
        instance_rows -> BigInt,
        attempts -> Integer,
        first_seen_at -> Timestamp,
        updated_at -> Timestamp,
        loaded_at -> Nullable<Timestamp>,
        commitment_proven -> Nullable<Bool>,
    }
}

diesel::table! {
    entry_exports (entry_id, kind) {
        entry_id -> Text,
        kind -> Text,
        path -> Text,
        sha256 -> Text,
        bytes -> BigInt,
        row_count -> BigInt,
        malformed_rows -> BigInt,
    }
}

diesel::table! {
    synthetics (invocation_id) {
        invocation_id -> Text,
        parent_invocation_id -> Text,
        task -> Text,
        chute_id -> Text,
        instance_id -> Text,
        miner_uid -> Nullable<Integer>,
        miner_hotkey -> Text,
        created_at -> Timestamp,
        has_error -> Bool,
        check_state -> Text,
        checked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    metagraph_snapshots (snapshot_id) {
        snapshot_id -> BigInt,
        netuid -> Integer,
        block -> BigInt,
        taken_at -> Timestamp,
    }
}

diesel::table! {
    metagraph_neurons (snapshot_id, uid) {
        snapshot_id -> BigInt,
        uid -> Integer,
        hotkey -> Text,
        coldkey -> Text,
        incentive -> Integer,
        stake -> Double,
        last_update -> BigInt,
        validator_permit -> Bool,
    }
}

diesel::table! {
    gpu_counts (chute_id) {
        chute_id -> Text,
        gpu_count -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    weights_runs (run_id) {
        run_id -> BigInt,
        evaluated_at -> Timestamp,
        created_at -> Timestamp,
        profile_name -> Text,
        profile_version -> Integer,
        snapshot_id -> Nullable<BigInt>,
        sum_abs_delta -> Double,
        max_delta -> Double,
        sent -> Bool,
        sent_to -> Nullable<Text>,
        sent_block -> Nullable<BigInt>,
        extrinsic_hash -> Nullable<Text>,
    }
}

diesel::table! {
    weights_run_miners (run_id, hotkey) {
        run_id -> BigInt,
        hotkey -> Text,
        uid -> Nullable<Integer>,
        coldkey -> Nullable<Text>,
        invocation_count -> Double,
        compute_units -> Double,
        bounty_count -> Double,
        unique_chute_count -> Double,
        private_instances -> BigInt,
        private_seconds -> Double,
        private_compute_units -> Double,
        norm_invocation_count -> Double,
        norm_compute_units -> Double,
        norm_bounty_count -> Double,
        norm_unique_chute_count -> Double,
        pre_score -> Double,
        penalised -> Bool,
        score -> Double,
        chain_share -> Nullable<Double>,
        delta -> Nullable<Double>,
        weight -> Nullable<Integer>,
    }
}

diesel::table! {
    weights_submissions (submission_id) {
        submission_id -> BigInt,
        run_id -> BigInt,
        attempted_at -> Timestamp,
        netuid -> Integer,
        call -> Nullable<Text>,
        outcome -> Text,
        reason -> Nullable<Text>,
        tries -> Integer,
        sender_uid -> Nullable<Integer>,
        extrinsic_hash -> Nullable<Text>,
        block_hash -> Nullable<Text>,
        block -> Nullable<BigInt>,
        reveal_round -> Nullable<BigInt>,
        commit_epoch -> Nullable<BigInt>,
        checked_at -> Nullable<Timestamp>,
        nonce -> Nullable<BigInt>,
        era_birth -> Nullable<BigInt>,
        era_period -> Nullable<BigInt>,
        chain_proven -> Nullable<Bool>,
    }
}

diesel::table! {
    weights_submission_weights (submission_id, uid) {
        submission_id -> BigInt,
        uid -> Integer,
        weight -> Integer,
    }
}

diesel::table! {
    agreement_runs (run_id) {
        run_id -> BigInt,
        evaluated_at -> Timestamp,
        created_at -> Timestamp,
        threshold -> Double,
    }
}

diesel::table! {
    agreement_results (run_id, hotkey) {
        run_id -> BigInt,
        hotkey -> Text,
        coverage_seconds -> BigInt,
        validator_count -> Nullable<BigInt>,
        reported_count -> Nullable<BigInt>,
        ratio -> Nullable<Double>,
        flagged -> Bool,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    agreement_missing_hours (run_id, hotkey, hour) {
        run_id -> BigInt,
        hotkey -> Text,
        hour -> Timestamp,
    }
}

diesel::joinable!(entry_exports -> audit_entries (entry_id));
diesel::joinable!(metagraph_neurons -> metagraph_snapshots (snapshot_id));
diesel::joinable!(weights_run_miners -> weights_runs (run_id));
diesel::joinable!(agreement_results -> agreement_runs (run_id));
diesel::joinable!(weights_submissions -> weights_runs (run_id));
diesel::joinable!(weights_submission_weights -> weights_submissions (submission_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_entries,
    entry_exports,
    synthetics,
    metagraph_snapshots,
    metagraph_neurons,
    gpu_counts,
    weights_runs,
    weights_run_miners,
    weights_submissions,
    weights_submission_weights,
    agreement_runs,
    agreement_results,
    agreement_missing_hours,
);
