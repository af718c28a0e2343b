%% @doc The publisher's view of the Erlang outbox (tally_outbox) in Gleam's
%% shapes, until the outbox is a Gleam actor: its head as items or as a
%% batch the engine wrote.
-module(tally_publisher_ffi).

-export([peek_batch/2]).

%% `{items, [Item]}` or `{whole, Written}` (tally/app/publisher.Head).
-spec peek_batch(pid() | atom(), pos_integer()) -> {items, [tally_outbox:item()]} | {whole, tally_outbox:written()}.
peek_batch(Outbox, N) ->
    case tally_outbox:peek_batch(Outbox, N) of
        Items when is_list(Items) -> {items, Items};
        {written, _, _} = W -> {whole, W}
    end.
