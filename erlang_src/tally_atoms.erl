%% @doc Every atom the Rust engine can put in a reply. The port's replies
%% are decoded with `binary_to_term(Bin, [safe])`, which refuses atoms the
%% VM does not know yet; the port owner loads this module first, so that
%% every atom of the engine's vocabulary exists without any being created
%% from the port's output. tally_atoms_tests checks this list against the
%% atoms named in the Rust encoders (native/**/gleam_shapes.rs and others).
-module(tally_atoms).

-export([all/0]).

-spec all() -> [atom()].
all() ->
    [aggregate_failed, aggregator_config, amount_overflow, bad_argument,
     bad_export, bad_field, bad_header, bad_request, bad_term, billing_failed,
     bucket_owner, bytes, config_mismatch, count, counters, day, disagree, duplicate_key, empty,
     empty_field, encode, engine_info, error, false, feed_result, fraction,
     frame_too_large, gb_month_average, gigabyte, hour, integer_range,
     invalid_json, invalid_number, invalid_time, invalid_utf8, invoice,
     invoice_line, json_lines, line_too_long, malformed, megabit_per_second,
     missing_field, month, native_panic, nil, none, number_too_large, ok,
     overlap, p95_rate, parse_stats, parsed, parser_options, peak,
     plain_unit, plans_invalid, reject, requester, rgw_usage, s3_access_log,
     some, storage_csv, total, true, unknown_plan, unknown_request, usage,
     usage_event, window_aggregate, work, wrong_field_count, wrong_type,
     checkpoint_failed, ingested, loaded, snapshot_failed,
     written_invoice, written_batch, customer_total].
