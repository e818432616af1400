<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

class DemoHeartbeatCommand extends Command
{
    protected $signature = 'demo:heartbeat';

    protected $description = 'Append one line to storage/logs/heartbeat.log: the scheduler ran on this host';

    public function handle(): int
    {
        $line = sprintf("%s heartbeat from %s\n", gmdate('Y-m-d\TH:i:s\Z'), gethostname());

        return file_put_contents(storage_path('logs/heartbeat.log'), $line, FILE_APPEND | LOCK_EX) === false ? 1 : 0;
    }
}
