%% @doc The bus sink: each item is published to its subject on NATS
%% JetStream with `Nats-Msg-Id` set to its key (an invoice line's key and
%% version, `tally/app/written's `msg_id``) and `Tally-Schema` to the schema of
%% the payload (contract/invoice_line.v1.schema.json), and counts as acknowledged
%% when the stream's ack arrives; a batch is published all at once. A retry within the stream's duplicate
%% window is dropped by the server. The NATS client is linked to the
%% publisher process that owns this sink.
-module(tally_sink_nats).

-export([init/1, publish/2, describe/1]).

-record(sink, {client :: pid(), stream :: binary(), subjects :: [binary()],
               create_stream :: boolean(), stream_ready :: boolean()}).
-opaque sink() :: #sink{}.
-export_type([sink/0]).

-spec init(map()) -> {ok, sink()}.
init(#{stream := Stream, subjects := Subjects} = Opts) ->
    {ok, Client} = tally_nats:start_link(maps:with([host, port, auth, tls, name, ping_interval], Opts)),
    Create = maps:get(create_stream, Opts, false),
    {ok, #sink{client = Client, stream = Stream, subjects = Subjects,
               create_stream = Create, stream_ready = not Create}}.

-spec describe(sink()) -> binary().
describe(#sink{stream = Stream}) -> <<"nats stream ", Stream/binary>>.

-spec publish([{Key :: binary(), Subject :: binary(), Payload :: binary()}], sink()) ->
          {ok, [binary()], sink()} | {error, term(), [binary()], sink()}.
publish(Items, #sink{stream_ready = false, client = C, stream = Stream, subjects = Subjects} = Sink) ->
    case tally_nats:create_stream(C, Stream, #{subjects => Subjects}) of
        ok -> publish(Items, Sink#sink{stream_ready = true});
        {error, Reason} -> {error, {create_stream, Reason}, [], Sink}
    end;
publish(Items, #sink{client = C} = Sink) ->
    %% The whole batch is in flight at once (one waiting process per item,
    %% the client multiplexes the acks); each key acked counts, whatever
    %% happened to the others.
    Self = self(),
    Headers = [{<<"Tally-Schema">>, 'tally@app@written':schema()}],
    Waiters = [{Key, spawn_link(fun() -> Self ! {self(), tally_nats:js_publish(C, Subject, Key, Headers, Payload)} end)}
               || {Key, Subject, Payload} <- Items],
    Results = [{Key, receive {Pid, R} -> R end} || {Key, Pid} <- Waiters],
    Acked = [Key || {Key, {ok, _}} <- Results],
    %% A payload over the server's max_payload never fits: a permanent
    %% failure, named per key (the publisher parks those items).
    TooLarge = [{Key, Size, Max} || {Key, {error, {payload_too_large, Size, Max}}} <- Results],
    case [Reason || {_, {error, Reason}} <- Results, not is_tuple(Reason) orelse element(1, Reason) =/= payload_too_large] of
        [] when TooLarge =:= [] -> {ok, Acked, Sink};
        [] -> {error, {too_large, TooLarge}, Acked, Sink};
        [Reason | _] -> {error, Reason, Acked, Sink}
    end.
