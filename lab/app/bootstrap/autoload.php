<?php

/*
 * The framework comes from the distribution's php-laravel-framework package
 * (/usr/share/php/Illuminate, on PHP's default include_path); the
 * application's own classes are loaded by a small PSR-4 loader, so no
 * composer vendor/ directory is needed at runtime.
 */

require_once 'Illuminate/autoload.php';

spl_autoload_register(function (string $class): void {
    $prefix = 'App\\';

    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }

    $file = __DIR__.'/../app/'.str_replace('\\', '/', substr($class, strlen($prefix))).'.php';

    if (is_file($file)) {
        require $file;
    }
});
