<?php

namespace App\Console\Commands;

use App\Jobs\DemoJob;
use Illuminate\Console\Command;
use Symfony\Component\Console\Output\OutputInterface;

class DemoProcessedCommand extends Command
{
    protected $signature = 'demo:processed
                            {--connection= : Only jobs processed from this queue connection}
                            {--queue= : Only jobs processed from this queue}';

    protected $description = 'Print the ids of the demo jobs processed on this host, one per line';

    public function handle(): int
    {
        $path = DemoJob::processedPath();

        if (! is_file($path)) {
            return 0;
        }

        $handle = fopen($path, 'r');

        if ($handle === false) {
            $this->getOutput()->getErrorStyle()->writeln("Cannot read {$path}.");

            return 1;
        }

        $host = gethostname();
        $connection = $this->option('connection');
        $queue = $this->option('queue');
        $ids = [];

        flock($handle, LOCK_SH);

        while (($line = fgets($handle)) !== false) {
            $record = json_decode($line, true);

            if (! is_array($record) || ! isset($record['id'])) {
                if (trim($line) !== '') {
                    $this->getOutput()->getErrorStyle()->writeln('Skipping a malformed line: '.trim($line));
                }

                continue;
            }

            if (($record['host'] ?? null) !== $host
                || ($connection && ($record['connection'] ?? null) !== $connection)
                || ($queue && ($record['queue'] ?? null) !== $queue)) {
                continue;
            }

            $ids[] = $record['id']."\n";
        }

        flock($handle, LOCK_UN);
        fclose($handle);

        $this->output->write(implode('', $ids), false, OutputInterface::OUTPUT_RAW);

        return 0;
    }
}
