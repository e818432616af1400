<?php

namespace App\Horizon\Console;

use App\Horizon\Contract;
use Symfony\Component\Console\Formatter\OutputFormatter;

/**
 * Horizon's messages in the style of the release the stand-in answers like:
 * plain info / warn / error lines up to 5.22, Laravel's console components
 * from 5.23. Laravel 8 has no $this->components; the component* methods
 * render the same lines ("  INFO  message" between blank lines, task lines
 * with dots and DONE/FAIL).
 */
trait RendersComponents
{
    protected function sayInfo(string $message): void
    {
        Contract::components() ? $this->componentInfo($message) : $this->info($message);
    }

    protected function sayWarn(string $message): void
    {
        Contract::components() ? $this->componentWarn($message) : $this->warn($message);
    }

    protected function sayError(string $message): void
    {
        Contract::components() ? $this->componentError($message) : $this->error($message);
    }

    protected function componentInfo(string $message): void
    {
        $this->componentLine('INFO', 'fg=white;bg=blue;options=bold', $message);
    }

    protected function componentWarn(string $message): void
    {
        $this->componentLine('WARN', 'fg=black;bg=yellow;options=bold', $message);
    }

    protected function componentError(string $message): void
    {
        $this->componentLine('ERROR', 'fg=white;bg=red;options=bold', $message);
    }

    protected function componentTask(string $description, callable $task): bool
    {
        $started = microtime(true);
        $result = (bool) $task();
        $runTime = number_format((microtime(true) - $started) * 1000).'ms';
        $status = $result ? '<fg=green;options=bold>DONE</>' : '<fg=red;options=bold>FAIL</>';
        $width = 80;
        $dots = max($width - strlen($description) - strlen($runTime) - 10, 1);

        $this->output->writeln(sprintf(
            '  %s <fg=gray>%s</> <fg=gray>%s</> %s',
            OutputFormatter::escape($description),
            str_repeat('.', $dots),
            $runTime,
            $status
        ));

        return $result;
    }

    private function componentLine(string $label, string $style, string $message): void
    {
        $this->output->writeln('');
        $this->output->writeln(sprintf(' <%s> %s </> %s', $style, $label, OutputFormatter::escape($message)));
        $this->output->writeln('');
    }
}
