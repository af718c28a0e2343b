%% @doc The Erlang half of the typed process layer (gleam_src/tally/otp/):
%% the few primitives Gleam cannot write itself (receive with a selector,
%% process flags, exit signals, timers, name registration, building
%% supervisor specs). Each function is one BEAM primitive in the shape the
%% Gleam side declares; the logic lives in the Gleam modules.
%%
%% Values cross in Gleam's own shapes: a subject is `{subject, Owner, Tag}` or
%% `{named_subject, Name}`, a selector is a map from what to match to the
%% function that turns the message into the selector's type.
-module(tally_otp_ffi).
-compile({no_auto_import, [monitor/2, link/1, unlink/1, register/2, unregister/1, whereis/1]}).

-export([new_subject/0, named_subject/1, subject_tag/1, send/2, subject_owner/1, new_selector/0, insert/3, map_selector/2, merge_selector/2,
         select/2, select_forever/1, monitor/1, demonitor/1, trap_exits/1, send_after/3, cancel_timer/1,
         sleep/1, kill/1, send_exit/2, link/1, unlink/1, unlink_flush/1, is_alive/1, spawn_linked/1,
         spawn_unlinked/1, new_name/1, name_from_atom_text/1, register/2, unregister/1, whereis/1,
         exit_raw/1, callee_down/1, callee_timeout/1, exit_normal/0, exit_abnormal/1,
         select_other/2, select_record/4, select_monitors/2, select_specific_monitor/3,
         select_trapped_exits/2, select_exit_from/3, with_fallback/2, supervisor_flags/3, child_spec/5,
         start_supervisor/2, raw_exit_reason/1, system_atom/0, answer_system/2, identity/1, name_text/1, log_unexpected/1, pid_text/1]).

-type selector() :: #{term() => fun((term()) -> term())}.
-type subject() :: {subject, pid(), reference()} | {named_subject, atom()}.

-spec new_subject() -> subject().
new_subject() -> {subject, self(), make_ref()}.

-spec named_subject(atom()) -> subject().
named_subject(Name) -> {named_subject, Name}.

%% What a subject's messages are tagged with: its reference, or its name.
-spec subject_tag(subject()) -> reference() | atom().
subject_tag({subject, _, Tag}) -> Tag;
subject_tag({named_subject, Name}) -> Name.

%% A subject's message is {Tag, Message}: the tag tells which subject it
%% came through, so one mailbox serves many typed subjects.
-spec send(subject(), term()) -> nil.
send({subject, Pid, Tag}, Message) -> erlang:send(Pid, {Tag, Message}), nil;
send({named_subject, Name}, Message) -> erlang:send(Name, {Name, Message}), nil.

-spec subject_owner(subject()) -> {ok, pid()} | {error, nil}.
subject_owner({subject, Pid, _}) -> {ok, Pid};
subject_owner({named_subject, Name}) -> whereis(Name).

-spec new_selector() -> selector().
new_selector() -> #{}.

-spec insert(selector(), term(), fun((term()) -> term())) -> selector().
insert(Selector, Key, Handler) -> Selector#{Key => Handler}.

-spec map_selector(selector(), fun((term()) -> term())) -> selector().
map_selector(Selector, Fun) -> maps:map(fun(_, H) -> fun(M) -> Fun(H(M)) end end, Selector).

-spec merge_selector(selector(), selector()) -> selector().
merge_selector(A, B) -> maps:merge(A, B).

%% The keys of untyped messages are tuples, which no subject tag (a
%% reference or a name) can be.
-spec select_other(selector(), fun((term()) -> term())) -> selector().
select_other(Selector, Handler) -> Selector#{{'$other'} => Handler}.

-spec select_record(selector(), term(), non_neg_integer(), fun((term()) -> term())) -> selector().
select_record(Selector, Tag, Fields, Handler) -> Selector#{{'$record', Tag, Fields + 1} => Handler}.

-spec select_monitors(selector(), fun((term()) -> term())) -> selector().
select_monitors(Selector, Handler) -> Selector#{{'$monitors'} => Handler}.

-spec select_specific_monitor(selector(), reference(), fun((term()) -> term())) -> selector().
select_specific_monitor(Selector, Ref, Handler) -> Selector#{{'$monitor', Ref} => Handler}.

-spec select_trapped_exits(selector(), fun((term()) -> term())) -> selector().
select_trapped_exits(Selector, Handler) -> Selector#{{'$exits'} => Handler}.

-spec select_exit_from(selector(), pid(), fun((term()) -> term())) -> selector().
select_exit_from(Selector, Pid, Handler) -> Selector#{{'$exit_from', Pid} => Handler}.

%% Only adds a catch-all when the selector has none of its own.
-spec with_fallback(selector(), fun((term()) -> term())) -> selector().
with_fallback(Selector, Handler) ->
    case is_map_key({'$other'}, Selector) of
        true -> Selector;
        false -> Selector#{{'$other'} => Handler}
    end.

%% One receive over every kind of key a selector may hold; messages no key
%% matches stay in the mailbox (unless the selector has a catch-all).
-spec select(selector(), non_neg_integer() | infinity) -> {ok, term()} | {error, nil}.
select(Selector, Timeout) ->
    receive
        {Tag, Payload} when is_map_key(Tag, Selector) ->
            {ok, (map_get(Tag, Selector))(Payload)};
        {'EXIT', Pid, Reason} when is_map_key({'$exit_from', Pid}, Selector) ->
            {ok, (map_get({'$exit_from', Pid}, Selector))(exit_reason(Reason))};
        {'DOWN', Ref, _, _, _} = Down when is_map_key({'$monitor', Ref}, Selector) ->
            {ok, (map_get({'$monitor', Ref}, Selector))(down(Down))};
        {'DOWN', _, _, _, _} = Down when is_map_key({'$monitors'}, Selector) ->
            {ok, (map_get({'$monitors'}, Selector))(down(Down))};
        {'EXIT', Pid, Reason} when is_map_key({'$exits'}, Selector) ->
            {ok, (map_get({'$exits'}, Selector))({exit_message, Pid, exit_reason(Reason)})};
        Message when is_tuple(Message), tuple_size(Message) > 0,
                     is_map_key({'$record', element(1, Message), tuple_size(Message)}, Selector) ->
            {ok, (map_get({'$record', element(1, Message), tuple_size(Message)}, Selector))(Message)};
        Message when is_map_key({'$other'}, Selector) ->
            {ok, (map_get({'$other'}, Selector))(Message)}
    after Timeout ->
        {error, nil}
    end.

-spec select_forever(selector()) -> term().
select_forever(Selector) ->
    {ok, Message} = select(Selector, infinity),
    Message.

down({'DOWN', Ref, process, Pid, Reason}) -> {process_down, Ref, Pid, exit_reason(Reason)};
down({'DOWN', Ref, port, Port, Reason}) -> {port_down, Ref, Port, exit_reason(Reason)}.

exit_reason(normal) -> normal;
exit_reason(killed) -> killed;
exit_reason(Other) -> {abnormal, Other}.

-spec monitor(pid()) -> reference().
monitor(Pid) -> erlang:monitor(process, Pid).

-spec demonitor(reference()) -> nil.
demonitor(Ref) -> erlang:demonitor(Ref, [flush]), nil.

-spec trap_exits(boolean()) -> nil.
trap_exits(Trap) -> process_flag(trap_exit, Trap), nil.

-spec send_after(subject(), non_neg_integer(), term()) -> reference().
send_after({subject, Pid, Tag}, Delay, Message) -> erlang:send_after(Delay, Pid, {Tag, Message});
send_after({named_subject, Name}, Delay, Message) -> erlang:send_after(Delay, Name, {Name, Message}).

-spec cancel_timer(reference()) -> timer_not_found | {cancelled, non_neg_integer()}.
cancel_timer(Timer) ->
    case erlang:cancel_timer(Timer) of
        false -> timer_not_found;
        Left -> {cancelled, Left}
    end.

-spec sleep(non_neg_integer()) -> nil.
sleep(Ms) -> timer:sleep(Ms), nil.

-spec kill(pid()) -> nil.
kill(Pid) -> exit(Pid, kill), nil.

-spec send_exit(pid(), term()) -> nil.
send_exit(Pid, Reason) -> exit(Pid, Reason), nil.

%% Linking to a process that is gone is false, not an exit signal.
-spec link(pid()) -> boolean().
link(Pid) ->
    case is_process_alive(Pid) of
        true -> try erlang:link(Pid) catch error:_ -> false end;
        false -> false
    end.

-spec unlink(pid()) -> nil.
unlink(Pid) -> erlang:unlink(Pid), nil.

%% Unlinks and drops an exit message already in the mailbox (after unlink
%% returns, no later one can arrive).
-spec unlink_flush(pid()) -> nil.
unlink_flush(Pid) ->
    erlang:unlink(Pid),
    receive {'EXIT', Pid, _} -> nil after 0 -> nil end.

-spec is_alive(pid()) -> boolean().
is_alive(Pid) -> is_process_alive(Pid).

-spec spawn_linked(fun(() -> term())) -> pid().
spawn_linked(Fun) -> erlang:spawn_link(Fun).

-spec spawn_unlinked(fun(() -> term())) -> pid().
spawn_unlinked(Fun) -> erlang:spawn(Fun).

%% A fresh name for a process: the prefix (from the program, never from
%% input) and a unique number.
-spec new_name(binary()) -> atom().
new_name(Prefix) ->
    N = integer_to_binary(erlang:unique_integer([positive])),
    binary_to_atom(<<Prefix/binary, "$", N/binary>>, utf8).

%% A fixed name the rest of the system knows (`tally_outbox`): only for
%% names written in the program, never from input.
-spec name_from_atom_text(binary()) -> atom().
name_from_atom_text(Text) -> binary_to_atom(Text, utf8).

-spec name_text(atom()) -> binary().
name_text(Name) -> atom_to_binary(Name, utf8).

-spec pid_text(pid()) -> binary().
pid_text(Pid) -> list_to_binary(pid_to_list(Pid)).

-spec register(pid(), atom()) -> {ok, nil} | {error, nil}.
register(Pid, Name) ->
    try erlang:register(Name, Pid) of true -> {ok, nil}
    catch error:badarg -> {error, nil}
    end.

-spec unregister(atom()) -> {ok, nil} | {error, nil}.
unregister(Name) ->
    try erlang:unregister(Name) of true -> {ok, nil}
    catch error:badarg -> {error, nil}
    end.

-spec whereis(atom()) -> {ok, pid()} | {error, nil}.
whereis(Name) ->
    case erlang:whereis(Name) of
        Pid when is_pid(Pid) -> {ok, Pid};
        _ -> {error, nil}
    end.

%% Ends the calling process with Reason as it is (an actor's stop, a
%% parent's exit passed on).
-spec exit_raw(term()) -> no_return().
exit_raw(Reason) -> exit(Reason).

%% A call that got no reply exits the caller the way gen_server:call does,
%% so Erlang callers can `catch exit:_`.
-spec callee_down(term()) -> no_return().
callee_down(Detail) -> exit({callee_down, Detail}).

-spec callee_timeout(term()) -> no_return().
callee_timeout(Detail) -> exit({callee_timeout, Detail}).

-spec exit_normal() -> normal.
exit_normal() -> normal.

-spec exit_abnormal(binary()) -> {abnormal, binary()}.
exit_abnormal(Reason) -> {abnormal, Reason}.

-spec identity(term()) -> term().
identity(X) -> X.

-spec log_unexpected(term()) -> nil.
log_unexpected(Message) ->
    logger:warning(#{msg => "actor discarding unexpected message", message => Message, pid => self()}),
    nil.

-spec supervisor_flags(one_for_one | one_for_all | rest_for_one, non_neg_integer(), pos_integer()) ->
          supervisor:sup_flags().
supervisor_flags(Strategy, Intensity, Period) ->
    #{strategy => Strategy, intensity => Intensity, period => Period}.

%% A child of an OTP supervisor whose start is a Gleam function returning
%% `Result(Pid, _)`, which is `{ok, Pid} | {error, _}` already.
-spec child_spec(term(), fun(() -> {ok, pid()} | {error, term()}), permanent | transient | temporary,
                 {worker, non_neg_integer()} | supervisor, boolean()) -> supervisor:child_spec().
child_spec(Id, Start, Restart, Type, Significant) ->
    {T, Shutdown} = case Type of
                        {worker, Ms} -> {worker, Ms};
                        supervisor -> {supervisor, infinity}
                    end,
    Spec = #{id => Id, start => {erlang, apply, [Start, []]}, restart => Restart, type => T,
             shutdown => Shutdown, modules => dynamic},
    case Significant of
        true -> Spec#{significant => true};
        false -> Spec
    end.

%% OTP's supervisor, with the Gleam module tally@otp@static_supervisor as its
%% callback (its init/1 hands back the flags and children).
-spec start_supervisor({ok, atom()} | {error, nil}, term()) -> {ok, pid()} | {error, term()}.
start_supervisor({ok, Name}, Spec) -> supervisor:start_link({local, Name}, 'tally@otp@static_supervisor', Spec);
start_supervisor({error, nil}, Spec) -> supervisor:start_link('tally@otp@static_supervisor', Spec).

%% An exit reason as the runtime gave it (the inverse of exit_reason/1).
-spec raw_exit_reason(normal | killed | {abnormal, term()}) -> term().
raw_exit_reason(normal) -> normal;
raw_exit_reason(killed) -> killed;
raw_exit_reason({abnormal, Reason}) -> Reason.

-spec system_atom() -> system.
system_atom() -> system.

%% The sys messages an actor answers: get_state (for a look from the
%% shell); anything else is answered `{error, unsupported}`, not left
%% unanswered.
-spec answer_system({system, {pid(), term()}, term()}, term()) -> nil.
answer_system({system, From, get_state}, State) -> gen:reply(From, State), nil;
answer_system({system, From, _Other}, _State) -> gen:reply(From, {error, unsupported}), nil.
