# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_tapir_global_optspecs
    string join \n c/config= json v/verbose h/help V/version
end

function __fish_tapir_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_tapir_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_tapir_using_subcommand
    set -l cmd (__fish_tapir_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c tapir -n "__fish_tapir_needs_command" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_needs_command" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_needs_command" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_needs_command" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "config" -d 'Print the effective configuration, or import an Amanda config'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "keygen" -d 'Make an age identity, or the server\'s tape signing key'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "keys" -d 'Key maintenance'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "rekey" -d 'Change who can decrypt the tapes, rewriting only each file\'s age header'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "label" -d 'Label a slot, or keep its tape out of rotation'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "tapes" -d 'Show the slots, their labels, and which tape is next'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "dump" -d 'Run tonight\'s dumps (all DLEs, or those of HOST, or HOST\'s DISKs)'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "flush" -d 'Write the dumps waiting in the holding area to tape, oldest first (amflush)'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "find" -d 'List dumps, or with --file the files in them'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "diff" -d 'List the files added, removed and changed in a DLE between two dates'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "sums" -d 'Print the sha256 of every regular file of a DLE as of a date, for `sha256sum -c`'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "drill" -d 'Restore DLEs for real from a copy, and hold every restored entry against its index'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "fetch" -d 'Write one dump image to a file or to stdout'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "recover" -d 'Restore files: the amrecover-style shell, or one command'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "mirror" -d 'Copy the tapes and the catalog to a mirror, verified'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "vault" -d 'Copy the fulls a vault\'s policy keeps; prune what it releases'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "forecast" -d 'What stays restorable in N days, per DLE and copy; which slot each run overwrites'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "status" -d 'Show the progress of the running (or the last) run'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "report" -d 'Show (or mail) the report of a run'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "overview" -d 'A DLE × night matrix of levels and states'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "mail" -d 'Mail standard input to the config\'s mailto (over `smtp`, else sendmail)'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "check-rpo" -d 'Nagios plugin and Prometheus textfile for recovery points'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "due" -d 'When each DLE\'s next full is due'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "balance" -d 'Expected volume per night over the next dump cycle'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "force" -d 'Take a full of HOST DISK at the next run'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "unforce" -d 'Cancel a full that `tapir force` asked for'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "forget" -d 'Retire a DLE taken out of the disklist, so that its dumps stop pinning tapes'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "check" -d 'Check every precondition of the next run'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "verify" -d 'Re-read tape files and check each one'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "catalog" -d 'Catalog maintenance'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "enroll" -d 'Record a client\'s SSH host key and print its authorized_keys line'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "agent" -d 'Serve dump requests on stdin/stdout'
complete -c tapir -n "__fish_tapir_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tapir -n "__fish_tapir_using_subcommand config" -l amanda-import -d 'An Amanda amanda.conf to translate' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand config" -l amanda-disklist -d 'The Amanda disklist to bring along (it is read as it is: tapir reads Amanda\'s syntax)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand config" -l to -d 'The new config directory (its tapir.toml must not exist yet)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand config" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand config" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand config" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand config" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand keygen" -s o -l output -d 'Where to write the identity; must not exist' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand keygen" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand keygen" -l signing -d 'Make the server\'s tape signing key instead (signing.key in tapir.toml)'
complete -c tapir -n "__fish_tapir_using_subcommand keygen" -l paper -d 'Also write a printable paper copy of the new identity to FILE.paper: the key in groups of four with a checksum line, and a QR code'
complete -c tapir -n "__fish_tapir_using_subcommand keygen" -l from-paper -d 'Make the identity file FILE from its paper copy, typed on standard input (the lines from AGE-SECRET-KEY-1 to the checksum line); prints its public key to compare with the page\'s'
complete -c tapir -n "__fish_tapir_using_subcommand keygen" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand keygen" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand keygen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand keygen" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and not __fish_seen_subcommand_from check allowed-signers help" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand keys; and not __fish_seen_subcommand_from check allowed-signers help" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and not __fish_seen_subcommand_from check allowed-signers help" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and not __fish_seen_subcommand_from check allowed-signers help" -s h -l help -d 'Print help'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and not __fish_seen_subcommand_from check allowed-signers help" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and not __fish_seen_subcommand_from check allowed-signers help" -f -a "check" -d 'List the tape files this identity cannot open'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and not __fish_seen_subcommand_from check allowed-signers help" -f -a "allowed-signers" -d 'The trusted tape signing keys as an allowed-signers file'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and not __fish_seen_subcommand_from check allowed-signers help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from check" -s i -l identity -r -F
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from check" -l from -d 'Read the tapes and catalog of this vtape root (a mirror: a directory, or s3://BUCKET/PREFIX) instead of the configured ones' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from check" -l signing-pub -d 'The tape signing public key (`KEY.pub`, an allowed-signers line, or an identity file with a `# tapir signing key:` line); default: signing.public_key, the server\'s own key, or the identity file\'s line' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from check" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from check" -l insecure-skip-signature -d 'Read tape files whose signature is missing or does not verify (never by default)'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from check" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from check" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from allowed-signers" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from allowed-signers" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from allowed-signers" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from allowed-signers" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from allowed-signers" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "check" -d 'List the tape files this identity cannot open'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "allowed-signers" -d 'The trusted tape signing keys as an allowed-signers file'
complete -c tapir -n "__fish_tapir_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -s i -l identity -d 'An age identity that opens the tapes (one of their current recipients)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -l add-recipient -d 'Wrap every file to this recipient too (age1… or ssh-ed25519 …)' -r
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -l add-recipients-file -d 'Wrap every file to the recipients in FILE too (one a line, as -R of age)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -l remove-recipient -d 'Unwrap every file from this recipient (its key, or its `sha256:…` fingerprint as `tapir check` names it)' -r
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -l remove-recipients-file -d 'Unwrap every file from the recipients in FILE' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -l from -d 'Read the tapes and catalog of this vtape root (a mirror: a directory, or s3://BUCKET/PREFIX) instead of the configured ones' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -l signing-pub -d 'The tape signing public key (`KEY.pub`, an allowed-signers line, or an identity file with a `# tapir signing key:` line); default: signing.public_key, the server\'s own key, or the identity file\'s line' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -l dry-run -d 'Say what would be rekeyed, change nothing'
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -l insecure-skip-signature -d 'Read tape files whose signature is missing or does not verify (never by default)'
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand rekey" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand label" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand label" -l force -d 'Relabel even though the tape holds dumps that are still needed (they are lost)'
complete -c tapir -n "__fish_tapir_using_subcommand label" -l no-reuse -d 'Keep the slot\'s tape out of rotation'
complete -c tapir -n "__fish_tapir_using_subcommand label" -l reuse -d 'Put a tape kept out of rotation back'
complete -c tapir -n "__fish_tapir_using_subcommand label" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand label" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand label" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand label" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand tapes" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand tapes" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand tapes" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand tapes" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand tapes" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand dump" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand dump" -l dry-run -d 'Show tonight\'s plan and the reason for each level; write nothing'
complete -c tapir -n "__fish_tapir_using_subcommand dump" -l after-newest -d 'The clock is right, but the catalog\'s newest dump was dated by a clock that ran ahead: date this run one second after it instead of refusing (the order of writing is kept)'
complete -c tapir -n "__fish_tapir_using_subcommand dump" -l json-progress -d 'Write one JSON object a line to stdout as the run goes (start, plan, each DLE\'s state, progress with percent and ETA about once a second, the summary last), for dashboards; stdout then carries nothing else'
complete -c tapir -n "__fish_tapir_using_subcommand dump" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand dump" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand dump" -s h -l help -d 'Print help'
complete -c tapir -n "__fish_tapir_using_subcommand dump" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand flush" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand flush" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand flush" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand flush" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand flush" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand find" -l file -d 'Search the indexes for files matching GLOB: without a `/` it matches file names (`*.conf`), with one the path inside the DLE (`etc/nginx/*.conf`, `**/id_rsa`); `*` does not cross `/`, `**` does. An incremental lists a file only when it holds its content' -r
complete -c tapir -n "__fish_tapir_using_subcommand find" -l host -d 'Only this host (as HOST)' -r
complete -c tapir -n "__fish_tapir_using_subcommand find" -l disk -d 'Only this disk (as DISK)' -r
complete -c tapir -n "__fish_tapir_using_subcommand find" -l from -d 'Read the tapes and catalog of this vtape root (a mirror: a directory, or s3://BUCKET/PREFIX) instead of the configured ones' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand find" -l signing-pub -d 'The tape signing public key (`KEY.pub`, an allowed-signers line, or an identity file with a `# tapir signing key:` line); default: signing.public_key, the server\'s own key, or the identity file\'s line' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand find" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand find" -l insecure-skip-signature -d 'Read tape files whose signature is missing or does not verify (never by default)'
complete -c tapir -n "__fish_tapir_using_subcommand find" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand find" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand find" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand find" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand diff" -l from -d 'Read the tapes and catalog of this vtape root (a mirror: a directory, or s3://BUCKET/PREFIX) instead of the configured ones' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand diff" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand diff" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand diff" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand diff" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand sums" -l host -r
complete -c tapir -n "__fish_tapir_using_subcommand sums" -l disk -r
complete -c tapir -n "__fish_tapir_using_subcommand sums" -l date -d 'The state as of this date: YYYY-MM-DD, or a datestamp (or its prefix); default: the newest' -r
complete -c tapir -n "__fish_tapir_using_subcommand sums" -l from -d 'Read the tapes and catalog of this vtape root (a mirror: a directory, or s3://BUCKET/PREFIX) instead of the configured ones' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand sums" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand sums" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand sums" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand sums" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand sums" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand drill" -s i -l identity -d 'The age identity that decrypts the copy\'s tapes' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand drill" -l host -d 'Only DLEs of this host (repeatable)' -r
complete -c tapir -n "__fish_tapir_using_subcommand drill" -l max-bytes -d 'Drill a DLE bigger than this by a random sample of its files up to this size (e.g. 2G)' -r
complete -c tapir -n "__fish_tapir_using_subcommand drill" -l seed -d 'The seed of the samples (default: from the clock; printed)' -r
complete -c tapir -n "__fish_tapir_using_subcommand drill" -l state -d 'Where the drills\' state is kept (default: ~/.local/state/tapir)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand drill" -l scratch -d 'Where restores are made and removed again (default: [drill] scratch, else the temp directory); put it on the kind of storage a real restore goes to' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand drill" -l textfile -d 'Also write DIR/tapir_drill.prom (node_exporter\'s textfile collector)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand drill" -l sign-with -d 'Sign the results with this ed25519 key (`tapir keygen --signing`; created when missing) and write them back beside the copy\'s catalog (`drills/THIS-HOST.json`), for the backup server\'s status and check-rpo (default: [drill] signing_key; none: not written back)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand drill" -l max-age -d 'With --check: WARNING when a DLE\'s last good drill is older than this (default 14d)' -r
complete -c tapir -n "__fish_tapir_using_subcommand drill" -l from -d 'Read the tapes and catalog of this vtape root (a mirror: a directory, or s3://BUCKET/PREFIX) instead of the configured ones' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand drill" -l signing-pub -d 'The tape signing public key (`KEY.pub`, an allowed-signers line, or an identity file with a `# tapir signing key:` line); default: signing.public_key, the server\'s own key, or the identity file\'s line' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand drill" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand drill" -l check -d 'Drill nothing: report as a Nagios plugin from the state'
complete -c tapir -n "__fish_tapir_using_subcommand drill" -l insecure-skip-signature -d 'Read tape files whose signature is missing or does not verify (never by default)'
complete -c tapir -n "__fish_tapir_using_subcommand drill" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand drill" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand drill" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand drill" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -l host -r
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -l disk -r
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -l date -d 'Newest dump at or before this date (YYYY-MM-DD or YYYYMMDDHHMMSS)' -r
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -l level -r
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -s o -l output -d 'Output file (must not exist), or - for stdout' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -s i -l identity -d 'age identity file: decrypt and decompress, writing the tar stream' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -l from -d 'Read the tapes and catalog of this vtape root (a mirror: a directory, or s3://BUCKET/PREFIX) instead of the configured ones' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -l signing-pub -d 'The tape signing public key (`KEY.pub`, an allowed-signers line, or an identity file with a `# tapir signing key:` line); default: signing.public_key, the server\'s own key, or the identity file\'s line' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -l insecure-skip-signature -d 'Read tape files whose signature is missing or does not verify (never by default)'
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand fetch" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l host -d 'The host (several with --all: a mass restore)' -r
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l parallel -d 'With --all: restore this many DLEs at once' -r
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l hosts-file -d 'With --all: more hosts, one a line (# comments)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l disk -r
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l date -d 'The state as of this date (YYYY-MM-DD or YYYYMMDDHHMMSS); default: the newest dump' -r
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l to -d 'Target directory: must be empty or new unless --overwrite' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand recover" -s i -l identity -r -F
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l tar -d 'Extract this tar stream (a file, or - for stdin) instead of dumps from the catalog' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l agent-config -d 'The agent.toml whose [programs] --run-restore uses (default /etc/tapir/agent.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l from -d 'Read the tapes and catalog of this vtape root (a mirror: a directory, or s3://BUCKET/PREFIX) instead of the configured ones' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l signing-pub -d 'The tape signing public key (`KEY.pub`, an allowed-signers line, or an identity file with a `# tapir signing key:` line); default: signing.public_key, the server\'s own key, or the identity file\'s line' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand recover" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l all -d 'Every DLE of the host(s), each into DIR/DISK (DIR/HOST/DISK for several hosts; the disk escaped as in tape file names, /var/www → _var_www). The plan (chains, bytes, an estimated time per DLE and in all, at the rate the drills of this copy measured on this machine, else at the first tape\'s fetch rate; it says which) is printed first'
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l plan -d 'With --all: print the plan and restore nothing'
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l overwrite -d 'Replace files that exist in the target'
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l stdout -d 'A program DLE: write its stream to stdout (e.g. `| pg_restore -d DB`)'
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l run-restore -d 'A program DLE: pipe its stream into the `restore` command of the program in this machine\'s agent.toml, and report that command\'s exit code'
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l insecure-skip-signature -d 'Read tape files whose signature is missing or does not verify (never by default)'
complete -c tapir -n "__fish_tapir_using_subcommand recover" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand recover" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand recover" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand recover" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand mirror" -l to -r
complete -c tapir -n "__fish_tapir_using_subcommand mirror" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand mirror" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand mirror" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand mirror" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand mirror" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand vault" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand vault" -l prune -d 'After copying, remove the copies the policy no longer keeps'
complete -c tapir -n "__fish_tapir_using_subcommand vault" -l dry-run -d 'With --prune: copy nothing, remove nothing, list what a prune would remove and why'
complete -c tapir -n "__fish_tapir_using_subcommand vault" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand vault" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand vault" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand vault" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand forecast" -l days -d 'How many nights ahead' -r
complete -c tapir -n "__fish_tapir_using_subcommand forecast" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand forecast" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand forecast" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand forecast" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand forecast" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand status" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand status" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand status" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand status" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand report" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand report" -l mail
complete -c tapir -n "__fish_tapir_using_subcommand report" -l html -d 'Print the run as an HTML page: a timeline (a lane per dumper, a bar per dump coloured by its state, with size and rate), the dumps, the last 30 nights and the text report; inline SVG, no JavaScript, no external resources'
complete -c tapir -n "__fish_tapir_using_subcommand report" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand report" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand report" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand report" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand overview" -l nights -d 'How many nights to show (the newest)' -r
complete -c tapir -n "__fish_tapir_using_subcommand overview" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand overview" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand overview" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand overview" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand overview" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand mail" -s s -l subject -d 'The Subject line' -r
complete -c tapir -n "__fish_tapir_using_subcommand mail" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand mail" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand mail" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand mail" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand mail" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand check-rpo" -l warn -d 'WARNING when a DLE\'s last dump is older (s, m, h, d)' -r
complete -c tapir -n "__fish_tapir_using_subcommand check-rpo" -l crit -d 'CRITICAL when a DLE\'s last dump is older' -r
complete -c tapir -n "__fish_tapir_using_subcommand check-rpo" -l full-slack -d 'WARNING when the last full is older than dumpcycle plus this' -r
complete -c tapir -n "__fish_tapir_using_subcommand check-rpo" -l prometheus -d 'Also write node_exporter textfile gauges to FILE (atomically): last success, last full, level, bytes, duration, partial, RPO state and skipped per DLE, mirror lag' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand check-rpo" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand check-rpo" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand check-rpo" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand check-rpo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand check-rpo" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand due" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand due" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand due" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand due" -s h -l help -d 'Print help'
complete -c tapir -n "__fish_tapir_using_subcommand due" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand balance" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand balance" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand balance" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand balance" -s h -l help -d 'Print help'
complete -c tapir -n "__fish_tapir_using_subcommand balance" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand force" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand force" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand force" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand force" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand force" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand unforce" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand unforce" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand unforce" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand unforce" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand unforce" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand forget" -l keep-until -d 'The last day its dumps still pin their tapes (YYYY-MM-DD)' -r
complete -c tapir -n "__fish_tapir_using_subcommand forget" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand forget" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand forget" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand forget" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand forget" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand check" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand check" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand check" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand check" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand verify" -s i -l identity -r -F
complete -c tapir -n "__fish_tapir_using_subcommand verify" -l max-time -d 'Stop after this long (e.g. 30m), least recently verified files first; the next run goes on where this one stopped. Every run reads at least one file a core' -r
complete -c tapir -n "__fish_tapir_using_subcommand verify" -l from -d 'Read the tapes and catalog of this vtape root (a mirror: a directory, or s3://BUCKET/PREFIX) instead of the configured ones' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand verify" -l signing-pub -d 'The tape signing public key (`KEY.pub`, an allowed-signers line, or an identity file with a `# tapir signing key:` line); default: signing.public_key, the server\'s own key, or the identity file\'s line' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand verify" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand verify" -l insecure-skip-signature -d 'Read tape files whose signature is missing or does not verify (never by default)'
complete -c tapir -n "__fish_tapir_using_subcommand verify" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand verify" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand verify" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and not __fish_seen_subcommand_from rebuild forget-missing help" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and not __fish_seen_subcommand_from rebuild forget-missing help" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and not __fish_seen_subcommand_from rebuild forget-missing help" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and not __fish_seen_subcommand_from rebuild forget-missing help" -s h -l help -d 'Print help'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and not __fish_seen_subcommand_from rebuild forget-missing help" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and not __fish_seen_subcommand_from rebuild forget-missing help" -f -a "rebuild" -d 'Recreate the catalog from the tapes (or a mirror)'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and not __fish_seen_subcommand_from rebuild forget-missing help" -f -a "forget-missing" -d 'Drop the records of dumps whose files are gone (MISSING)'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and not __fish_seen_subcommand_from rebuild forget-missing help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from rebuild" -l from -r -F
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from rebuild" -s i -l identity -r -F
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from rebuild" -l signing-pub -d 'The tape signing public key (`KEY.pub`, an allowed-signers line, or an identity file with a `# tapir signing key:` line); default: signing.public_key, the server\'s own key, or the identity file\'s line' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from rebuild" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from rebuild" -l insecure-skip-signature -d 'Read tape files whose signature is missing or does not verify (never by default)'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from rebuild" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from rebuild" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from rebuild" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from rebuild" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from forget-missing" -l host -d 'Only this host\'s records' -r
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from forget-missing" -l disk -d 'Only this disk\'s records' -r
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from forget-missing" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from forget-missing" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from forget-missing" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from forget-missing" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from forget-missing" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from help" -f -a "rebuild" -d 'Recreate the catalog from the tapes (or a mirror)'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from help" -f -a "forget-missing" -d 'Drop the records of dumps whose files are gone (MISSING)'
complete -c tapir -n "__fish_tapir_using_subcommand catalog; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tapir -n "__fish_tapir_using_subcommand enroll" -l fingerprint -d 'Expected host key fingerprint: SHA256:… (ssh-keygen -l), or SSHFP records as facter gives them ("SSHFP 4 2 <hex>", several lines allowed) or ssh-keygen -r prints them' -r
complete -c tapir -n "__fish_tapir_using_subcommand enroll" -l from -d 'Restrict the key to these source addresses (authorized_keys from="…")' -r
complete -c tapir -n "__fish_tapir_using_subcommand enroll" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand enroll" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand enroll" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand enroll" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand enroll" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand agent" -l agent-config -d 'Client rules: allowed roots, hooks, log (default /etc/tapir/agent.toml, if present)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand agent" -s c -l config -d 'Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml)' -r -F
complete -c tapir -n "__fish_tapir_using_subcommand agent" -l json -d 'Print data as JSON'
complete -c tapir -n "__fish_tapir_using_subcommand agent" -s v -l verbose -d 'Show progress on stderr also when it is not a terminal (default: only problems)'
complete -c tapir -n "__fish_tapir_using_subcommand agent" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tapir -n "__fish_tapir_using_subcommand agent" -s V -l version -d 'Print version'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "config" -d 'Print the effective configuration, or import an Amanda config'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "keygen" -d 'Make an age identity, or the server\'s tape signing key'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "keys" -d 'Key maintenance'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "rekey" -d 'Change who can decrypt the tapes, rewriting only each file\'s age header'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "label" -d 'Label a slot, or keep its tape out of rotation'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "tapes" -d 'Show the slots, their labels, and which tape is next'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "dump" -d 'Run tonight\'s dumps (all DLEs, or those of HOST, or HOST\'s DISKs)'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "flush" -d 'Write the dumps waiting in the holding area to tape, oldest first (amflush)'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "find" -d 'List dumps, or with --file the files in them'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "diff" -d 'List the files added, removed and changed in a DLE between two dates'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "sums" -d 'Print the sha256 of every regular file of a DLE as of a date, for `sha256sum -c`'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "drill" -d 'Restore DLEs for real from a copy, and hold every restored entry against its index'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "fetch" -d 'Write one dump image to a file or to stdout'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "recover" -d 'Restore files: the amrecover-style shell, or one command'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "mirror" -d 'Copy the tapes and the catalog to a mirror, verified'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "vault" -d 'Copy the fulls a vault\'s policy keeps; prune what it releases'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "forecast" -d 'What stays restorable in N days, per DLE and copy; which slot each run overwrites'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "status" -d 'Show the progress of the running (or the last) run'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "report" -d 'Show (or mail) the report of a run'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "overview" -d 'A DLE × night matrix of levels and states'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "mail" -d 'Mail standard input to the config\'s mailto (over `smtp`, else sendmail)'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "check-rpo" -d 'Nagios plugin and Prometheus textfile for recovery points'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "due" -d 'When each DLE\'s next full is due'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "balance" -d 'Expected volume per night over the next dump cycle'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "force" -d 'Take a full of HOST DISK at the next run'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "unforce" -d 'Cancel a full that `tapir force` asked for'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "forget" -d 'Retire a DLE taken out of the disklist, so that its dumps stop pinning tapes'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "check" -d 'Check every precondition of the next run'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "verify" -d 'Re-read tape files and check each one'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "catalog" -d 'Catalog maintenance'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "enroll" -d 'Record a client\'s SSH host key and print its authorized_keys line'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "agent" -d 'Serve dump requests on stdin/stdout'
complete -c tapir -n "__fish_tapir_using_subcommand help; and not __fish_seen_subcommand_from config keygen keys rekey label tapes dump flush find diff sums drill fetch recover mirror vault forecast status report overview mail check-rpo due balance force unforce forget check verify catalog enroll agent help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tapir -n "__fish_tapir_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "check" -d 'List the tape files this identity cannot open'
complete -c tapir -n "__fish_tapir_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "allowed-signers" -d 'The trusted tape signing keys as an allowed-signers file'
complete -c tapir -n "__fish_tapir_using_subcommand help; and __fish_seen_subcommand_from catalog" -f -a "rebuild" -d 'Recreate the catalog from the tapes (or a mirror)'
complete -c tapir -n "__fish_tapir_using_subcommand help; and __fish_seen_subcommand_from catalog" -f -a "forget-missing" -d 'Drop the records of dumps whose files are gone (MISSING)'
