<?php

namespace App\Horizon;

use UnexpectedValueException;

/**
 * Which laravel/horizon 5.x release the stand-in answers like (config
 * standin.horizon, HORIZON_STANDIN_VERSION in .env). What changes between
 * releases, read from Horizon's own source:
 *
 *   5.23  messages through Laravel's console components ("  INFO  ..."), and
 *         pause / continue / terminate print one summary line plus a task
 *         line per process instead of one "Sending ... Signal To Process" line
 *   5.25  horizon:status exits 2 (not 1) when Horizon is inactive
 *   5.28  horizon:supervisor-status exists
 */
final class Contract
{
    public static function version(): string
    {
        $version = (string) config('standin.horizon', '5.22.1');

        if (! preg_match('/^5\.\d+(\.\d+)?$/', $version)) {
            throw new UnexpectedValueException(
                "HORIZON_STANDIN_VERSION must be a laravel/horizon 5.x release such as 5.22.1, not [{$version}]."
            );
        }

        return $version;
    }

    public static function atLeast(string $release): bool
    {
        return version_compare(self::version(), $release, '>=');
    }

    public static function components(): bool
    {
        return self::atLeast('5.23');
    }

    public static function inactiveExitCode(): int
    {
        return self::atLeast('5.25') ? 2 : 1;
    }

    public static function hasSupervisorStatus(): bool
    {
        return self::atLeast('5.28');
    }
}
