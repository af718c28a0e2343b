%% @doc The bus sink: each item is published to its subject on NATS
%% JetStream with `Nats-Msg-Id` set to its key and counts as acknowledged
%% when the stream's ack arrives. A retry within the stream's duplicate
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
    {ok, Client} = tally_nats:start_link(maps:with([host, port, auth, name, ping_interval], Opts)),
    Create = maps:get(create_stream, Opts, false),
    {ok, #sink{client = Client, stream = Stream, subjects = Subjects,
               create_stream = Create, stream_ready = not Create}}.

-spec describe(sink()) -> binary().
describe(#sink{stream = Stream}) -> <<"nats stream ", Stream/binary>>.

-spec publish([tally_outbox:item()], sink()) ->
          {ok, [binary()], sink()} | {error, term(), [binary()], sink()}.
publish(Items, #sink{stream_ready = false, client = C, stream = Stream, subjects = Subjects} = Sink) ->
    case tally_nats:create_stream(C, Stream, #{subjects => Subjects}) of
        ok -> publish(Items, Sink#sink{stream_ready = true});
        {error, Reason} -> {error, {create_stream, Reason}, [], Sink}
    end;
publish(Items, Sink) ->
    publish(Items, Sink, []).

publish([], Sink, Acked) ->
    {ok, lists:reverse(Acked), Sink};
publish([{Key, Subject, Payload} | Rest], #sink{client = C} = Sink, Acked) ->
    case tally_nats:js_publish(C, Subject, Key, Payload) of
        {ok, _Ack} -> publish(Rest, Sink, [Key | Acked]);
        {error, Reason} -> {error, Reason, lists:reverse(Acked), Sink}
    end.
