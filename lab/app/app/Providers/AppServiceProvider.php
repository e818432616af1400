<?php

namespace App\Providers;

use Illuminate\Support\ServiceProvider;

class AppServiceProvider extends ServiceProvider
{
    public function register()
    {
        $this->ensureSqliteDatabaseExists();
    }

    public function boot()
    {
        //
    }

    /**
     * Laravel 8 does not create the SQLite file, so a fresh copy of the app
     * could not run `migrate`. Create it empty; when created by root, hand
     * it to the owner of its directory (the web user), so workers running as
     * that user can write to it.
     */
    private function ensureSqliteDatabaseExists(): void
    {
        $config = $this->app['config'];
        $connection = $config->get('database.connections.'.$config->get('database.default'));

        if (! is_array($connection) || ($connection['driver'] ?? null) !== 'sqlite') {
            return;
        }

        $path = $connection['database'] ?? null;

        if (! is_string($path) || $path === '' || $path === ':memory:' || file_exists($path)) {
            return;
        }

        $directory = dirname($path);

        if (! is_dir($directory) || ! is_writable($directory) || ! @touch($path)) {
            return;
        }

        if (function_exists('posix_geteuid') && posix_geteuid() === 0) {
            $owner = fileowner($directory);
            $group = filegroup($directory);

            if ($owner !== false && $group !== false) {
                @chown($path, $owner);
                @chgrp($path, $group);
            }
        }
    }
}
