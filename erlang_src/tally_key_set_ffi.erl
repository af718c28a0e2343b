%% tally/app/key_set: a set of binary keys in an ETS set owned by the
%% caller, off its heap. Also the reissue's passes over a text of message
%% ids (`KEY/vVERSION`, a newline after each), a 4 MiB slice of lines at a
%% time, never the whole text as a list (a million customers' record is
%% three million ids).
-module(tally_key_set_ffi).

-export([new/0, insert/2, member/2, sorted/1, drop/1,
         insert_id_keys/2, new_ids/2, take_ids/2]).

-spec new() -> ets:tid().
new() -> ets:new(tally_key_set, [set, protected]).

-spec insert(ets:tid(), [binary()]) -> nil.
insert(Set, Keys) ->
    true = ets:insert(Set, [{own(K)} || K <- Keys]),
    nil.

-spec member(ets:tid(), binary()) -> boolean().
member(Set, Key) -> ets:member(Set, Key).

-spec sorted(ets:tid()) -> [binary()].
sorted(Set) -> lists:sort(ets:select(Set, [{{'$1'}, [], ['$1']}])).

-spec drop(ets:tid()) -> nil.
drop(Set) ->
    true = ets:delete(Set),
    nil.

%% Every id's key (tally_outbox_ffi:key_of) put in Set.
-spec insert_id_keys(binary(), ets:tid()) -> nil.
insert_id_keys(Ids, Set) ->
    fold_slices(Ids, 0, nil, fun(Lines, nil) ->
                                     true = ets:insert(Set, [{own(tally_outbox_ffi:key_of(Id))} || Id <- Lines]),
                                     nil
                             end).

%% The ids whose key was not in Set, in order; their keys are put in it.
-spec new_ids(binary(), ets:tid()) -> [binary()].
new_ids(Ids, Set) ->
    New = fold_slices(Ids, 0, [], fun(Lines, Acc) ->
                                          lists:foldl(fun(Id, A) ->
                                                              Key = own(tally_outbox_ffi:key_of(Id)),
                                                              case ets:insert_new(Set, {Key}) of
                                                                  true -> [Id | A];
                                                                  false -> A
                                                              end
                                                      end, Acc, Lines)
                                  end),
    lists:reverse(New).

%% A close's ids against the keys issued: those whose key was issued are
%% taken out of Issued; the others, in order, are returned (new to the
%% period).
-spec take_ids(binary(), ets:tid()) -> [binary()].
take_ids(Ids, Issued) ->
    New = fold_slices(Ids, 0, [], fun(Lines, Acc) ->
                                          lists:foldl(fun(Id, A) ->
                                                              case ets:take(Issued, tally_outbox_ffi:key_of(Id)) of
                                                                  [_] -> A;
                                                                  [] -> [Id | A]
                                                              end
                                                      end, Acc, Lines)
                                  end),
    lists:reverse(New).

%% A key of its own: ETS keeps a part of a binary over 64 bytes as a
%% reference to the whole (a record, a round's ids), a shorter one copied.
own(Key) when byte_size(Key) > 64 -> binary:copy(Key);
own(Key) -> Key.

-define(SLICE, 4194304).

%% F over the non-empty lines of Text from byte From on, a slice of about
%% 4 MiB at a time (each slice's lines as a list, never the whole text's).
fold_slices(Text, From, Acc, F) ->
    Size = byte_size(Text),
    case From >= Size of
        true -> Acc;
        false ->
            End = case From + ?SLICE >= Size of
                      true -> Size;
                      false ->
                          case binary:match(Text, <<"\n">>, [{scope, {From + ?SLICE, Size - From - ?SLICE}}]) of
                              nomatch -> Size;
                              {At, 1} -> At + 1
                          end
                  end,
            Lines = binary:split(binary:part(Text, From, End - From), <<"\n">>, [global, trim_all]),
            fold_slices(Text, End, F(Lines, Acc), F)
    end.
