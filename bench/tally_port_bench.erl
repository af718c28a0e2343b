%% Port against NIF, side by side in one run: round-trip latency of a small
%% request, and throughput of 1 MB batches parsed into an aggregator (the
%% work stays in the engine) and parsed back as events onto the BEAM heap.
%%
%%   make bench-port            (MB=200 make bench-port for more data)
-module(tally_port_bench).

-export([main/0]).

-define(CONFIG, {aggregator_config, hour, true, [<<"bandwidth_out_bytes">>], [<<"storage_bytes">>], [], 172800000}).
-define(OPTIONS, {parser_options, 1048576, none, bucket_owner, true}).
-define(BATCH, 1048576).

-spec main() -> no_return().
main() ->
    MB = list_to_integer(os:getenv("MB", "100")),
    {ok, Port} = tally_port:start_supervised(#{timeout => 60000}),
    Batches = batches(MB),
    io:format("tally port vs NIF: ~b MB of JSON Lines in 1 MB batches, ~b scheduler(s)~n",
              [MB, erlang:system_info(schedulers_online)]),
    io:format("~-34s ~12s ~12s ~8s~n", ["", "nif", "port", "port/nif"]),
    Calls = 20000,
    NifRt = per_call_us(fun() -> tally_nif:meter_unit(<<"requests">>) end, Calls),
    PortRt = per_call_us(fun() -> tally_port:call(Port, meter_unit, {<<"requests">>}) end, Calls),
    io:format("~-34s ~9.2f us ~9.2f us ~8.2f~n", ["round trip, small request", NifRt, PortRt, PortRt / NifRt]),
    NifAgg = mb_per_s(MB, fun() -> aggregate_nif(Batches) end),
    PortAgg = mb_per_s(MB, fun() -> aggregate_port(Port, Batches) end),
    io:format("~-34s ~7.1f MB/s ~7.1f MB/s ~8.2f~n", ["parse+aggregate, 1 MB batches", NifAgg, PortAgg, PortAgg / NifAgg]),
    %% The same with the journal never checkpointing: what checkpoints cost.
    {ok, Bare} = tally_port:start_supervised(#{timeout => 60000, checkpoint_ops => 1 bsl 40, checkpoint_bytes => 1 bsl 50}),
    BareAgg = mb_per_s(MB, fun() -> aggregate_port(Bare, Batches) end),
    tally_port:stop(Bare),
    io:format("~-34s ~7s      ~7.1f MB/s ~8.2f~n", ["  same, no checkpoints", "", BareAgg, BareAgg / NifAgg]),
    NifParse = mb_per_s(MB, fun() -> [{ok, _} = tally_nif:parse_chunk(json_lines, ?OPTIONS, B) || B <- Batches] end),
    PortParse = mb_per_s(MB, fun() -> [{ok, _} = tally_port:call(Port, parse_chunk, {json_lines, ?OPTIONS, B}) || B <- Batches] end),
    io:format("~-34s ~7.1f MB/s ~7.1f MB/s ~8.2f~n", ["parse to BEAM terms, 1 MB batches", NifParse, PortParse, PortParse / NifParse]),
    tally_port:stop(Port),
    halt(0).

per_call_us(Fun, N) ->
    _ = [Fun() || _ <- lists:seq(1, 1000)],  % warm up
    {Us, _} = timer:tc(fun() -> loop(Fun, N) end),
    Us / N.

loop(_Fun, 0) -> ok;
loop(Fun, N) -> {ok, _} = Fun(), loop(Fun, N - 1).

mb_per_s(MB, Fun) ->
    {Us, _} = timer:tc(Fun),
    MB / (Us / 1.0e6).

aggregate_nif(Batches) ->
    {ok, A} = tally_nif:aggregator_new(?CONFIG),
    {ok, P} = tally_nif:parser_new(json_lines, ?OPTIONS),
    [{ok, _} = tally_nif:aggregator_feed(A, P, B) || B <- Batches],
    {ok, _} = tally_nif:aggregator_finish(A, P).

%% One batch at a time, as one collector feeds one aggregator.
aggregate_port(Port, Batches) ->
    {ok, A} = tally_port:call(Port, aggregator_new, {?CONFIG}),
    {ok, P} = tally_port:call(Port, parser_new, {json_lines, ?OPTIONS}),
    [{ok, _} = tally_port:call(Port, aggregator_feed, {A, P, B}) || B <- Batches],
    {ok, _} = tally_port:call(Port, aggregator_finish, {A, P}),
    {ok, nil} = tally_port:call(Port, release, {A}),
    {ok, nil} = tally_port:call(Port, release, {P}).

%% MB batches of 1 MB, cut at line ends, of distinct events over 10k customers.
batches(MB) ->
    {Batches, _} = lists:mapfoldl(fun(_, I) -> batch(I, []) end, 0, lists:seq(1, MB)),
    Batches.

batch(I, Acc) ->
    Line = iolist_to_binary(["{\"id\":\"e", integer_to_binary(I), "\",\"source\":\"edge\",\"type\":\"usage\",\"subject\":\"c",
                             integer_to_binary(I rem 10000), "\",\"time\":\"2026-10-0", integer_to_binary(1 + I rem 9),
                             "T12:00:00Z\",\"data\":{\"resource\":\"bucket-", integer_to_binary(I rem 7),
                             "\",\"meter\":\"bandwidth_out_bytes\",\"value\":", integer_to_binary(I * 7 rem 65536), "}}\n"]),
    case iolist_size(Acc) + byte_size(Line) > ?BATCH of
        true -> {iolist_to_binary(lists:reverse(Acc)), I};
        false -> batch(I + 1, [Line | Acc])
    end.
